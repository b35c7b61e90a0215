package io.lockstep.driver.cluster;

import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ExecutorDefaultsTest {
    @Test
    void setsSmallCacheChunksTwoMallocArenasAndPassiveOpenMpThreadsForTheExecutors() {
        SparkConf conf = ExecutorDefaults.applyTo(new SparkConf(false));
        assertEquals("262144", conf.get("spark.storage.unrollMemoryThreshold"));
        assertEquals("2", conf.get("spark.executorEnv.MALLOC_ARENA_MAX"));
        assertEquals("PASSIVE", conf.get("spark.executorEnv.OMP_WAIT_POLICY"));
    }

    @Test
    void whatTheJobSetsWins() {
        SparkConf conf = ExecutorDefaults.applyTo(new SparkConf(false)
                .set("spark.storage.unrollMemoryThreshold", "1048576")
                .set("spark.executorEnv.MALLOC_ARENA_MAX", "8")
                .set("spark.executorEnv.OMP_WAIT_POLICY", "ACTIVE"));
        assertEquals("1048576", conf.get("spark.storage.unrollMemoryThreshold"));
        assertEquals("8", conf.get("spark.executorEnv.MALLOC_ARENA_MAX"));
        assertEquals("ACTIVE", conf.get("spark.executorEnv.OMP_WAIT_POLICY"));
    }
}
