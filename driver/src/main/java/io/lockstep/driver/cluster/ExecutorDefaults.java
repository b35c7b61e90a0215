package io.lockstep.driver.cluster;

import org.apache.spark.SparkConf;

/**
 * Spark settings Lockstep's commands start their context with, each unless the job sets it: what an
 * executor needs to hold large records and a replica's native memory without growing past its budget, and
 * to keep OpenMP's idle threads off the cores its replica's other threads need.
 */
public final class ExecutorDefaults {
    /**
     * Spark caches a serialized block in chunks of this many bytes (default 1 MB). G1 cuts a heap of a few
     * GB into 1 MB regions and gives any array of half a region or more whole regions of its own: a 1 MB
     * chunk (plus its header) takes two, so a cache of large images filled 1 GB executors with twice its
     * accounted size and they ran out of heap (895 of 1,024 regions humongous and live). Chunks of 256 KB
     * are ordinary objects.
     */
    static final String CACHE_CHUNK_PROPERTY = "spark.storage.unrollMemoryThreshold";
    static final String CACHE_CHUNK_BYTES = Integer.toString(256 << 10);
    /**
     * glibc gives every thread that allocates its own arena (up to 8 per core) and returns little of them:
     * ND4J, OneDNN and the OpenMP pools allocate natively from many threads, and capping glibc at 2 arenas
     * took 430 MB off a 2-replica resnet20 run at no measured cost in speed. {@code bin/lockstep} sets it
     * for local mode (the driver's JVM is the executor there, its environment is fixed at start).
     */
    static final String MALLOC_ARENAS_PROPERTY = "spark.executorEnv.MALLOC_ARENA_MAX";
    static final String MALLOC_ARENAS = "2";
    /**
     * libgomp's worker threads spin between parallel regions by default. A replica's own Java threads (the
     * BatchNorm kernels' helpers, data prefetch, Aeron) then wait for a core a spinning thread holds: a
     * resnet20 step at 2 threads was 9–18 % slower and used 30 % more CPU with the spin than without it.
     * libgomp reads this once when it loads, so it must be in the executor's environment at start.
     */
    static final String OPENMP_WAIT_POLICY_PROPERTY = "spark.executorEnv.OMP_WAIT_POLICY";
    static final String OPENMP_WAIT_POLICY = "PASSIVE";

    private ExecutorDefaults() {
    }

    public static SparkConf applyTo(SparkConf conf) {
        return conf.setIfMissing(CACHE_CHUNK_PROPERTY, CACHE_CHUNK_BYTES)
                .setIfMissing(MALLOC_ARENAS_PROPERTY, MALLOC_ARENAS)
                .setIfMissing(OPENMP_WAIT_POLICY_PROPERTY, OPENMP_WAIT_POLICY);
    }
}
