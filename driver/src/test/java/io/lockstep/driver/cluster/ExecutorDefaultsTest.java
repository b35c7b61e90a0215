package io.lockstep.driver.cluster;

import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ExecutorDefaultsTest {
    @Test
    void setsSmallCacheChunksAndTwoMallocArenasForTheExecutors() {
        SparkConf conf = ExecutorDefaults.applyTo(new SparkConf(false));
        assertEquals("262144", conf.get("spark.storage.unrollMemoryThreshold"));
        assertEquals("2", conf.get("spark.executorEnv.MALLOC_ARENA_MAX"));
    }

    @Test
    void whatTheJobSetsWins() {
        SparkConf conf = ExecutorDefaults.applyTo(new SparkConf(false)
                .set("spark.storage.unrollMemoryThreshold", "1048576")
                .set("spark.executorEnv.MALLOC_ARENA_MAX", "8"));
        assertEquals("1048576", conf.get("spark.storage.unrollMemoryThreshold"));
        assertEquals("8", conf.get("spark.executorEnv.MALLOC_ARENA_MAX"));
    }
}
