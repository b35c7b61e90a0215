package io.lockstep.driver.bench;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AllReduceBenchmarkTest {

    private static AllReduceBenchmark parse(String... args) {
        AllReduceBenchmark benchmark = new AllReduceBenchmark();
        new CommandLine(benchmark).parseArgs(args);
        return benchmark;
    }

    @Test
    void sparkReferenceIsMeasuredByDefaultAndNoSparkTurnsItOff() {
        assertTrue(parse().spark);
        assertTrue(parse("--spark").spark);
        assertFalse(parse("--no-spark").spark, "--no-spark must skip the treeAggregate reference");
    }

    @Test
    void sealingCostModelCountsWhatEachRankSealsAndOpens() {
        // 4 ranks, 46.8 MB: each rank seals 2(N-1)/N of the buffer, 70.2 MB, and opens as much; at 7,020 MB/s
        // of seal-and-open, 10 ms.
        double perRank = AllReduceBenchmark.sealingMillisPerRank(4, 46_800_000L, 7_020);
        assertEquals(10.0, perRank, 1e-9);
        assertEquals(0.0, AllReduceBenchmark.sealingMillisPerRank(1, 46_800_000L, 7_020), "one rank sends nothing");
        // 40 ms of sealing over 2 busy cores adds 20 ms to a 200 ms all-reduce.
        assertEquals(200.0 / 220.0, AllReduceBenchmark.cpuBoundRatio(200, perRank, 4, 2), 1e-12);
        assertEquals(200.0 / 210.0, AllReduceBenchmark.cpuBoundRatio(200, perRank, 4, 4), 1e-12,
                "twice the cores, half the added time");
    }
}
