package io.lockstep.driver.bench;

import io.lockstep.worker.comm.WireSecurity;
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
        // 4 ranks, 46.8 MB under encrypt: each rank seals 2(N-1)/N of the buffer, 70.2 MB, and opens as much; at
        // 14,040 MB/s sealed and 7,020 MB/s sealed and opened (an open costs what a seal does), 10 ms.
        double perRank = AllReduceBenchmark.sealingMillisPerRank(4, 46_800_000L, WireSecurity.ENCRYPT, 14_040, 7_020);
        assertEquals(10.0, perRank, 1e-9);
        // Under auth it seals only what it does not forward: 70.2 MB less the 23.4 MB of the second all-gather step.
        assertEquals((46.8 + 70.2) / 14_040 * 1e3,
                AllReduceBenchmark.sealingMillisPerRank(4, 46_800_000L, WireSecurity.AUTHENTICATE, 14_040, 7_020), 1e-9);
        assertEquals((70.2 + 93.6) / 14_040 * 1e3,
                AllReduceBenchmark.sealingMillisPerRank(3, 70_200_000L, WireSecurity.AUTHENTICATE, 14_040, 7_020), 1e-9,
                "3 ranks, 70.2 MB: 93.6 MB each way, 23.4 MB of it forwarded");
        assertEquals(2 * 46.8 / 14_040 * 1e3,
                AllReduceBenchmark.sealingMillisPerRank(2, 46_800_000L, WireSecurity.AUTHENTICATE, 14_040, 7_020), 1e-9,
                "2 ranks forward nothing");
        assertEquals(0.0, AllReduceBenchmark.sealingMillisPerRank(1, 46_800_000L, WireSecurity.AUTHENTICATE, 14_040,
                7_020), "one rank sends nothing");
        // 40 ms of sealing over 2 busy cores adds 20 ms to a 200 ms all-reduce.
        assertEquals(200.0 / 220.0, AllReduceBenchmark.cpuBoundRatio(200, perRank, 4, 2), 1e-12);
        assertEquals(200.0 / 210.0, AllReduceBenchmark.cpuBoundRatio(200, perRank, 4, 4), 1e-12,
                "twice the cores, half the added time");
    }
}
