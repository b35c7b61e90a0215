package io.lockstep.driver.bench;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AllReduceBenchmarkOptionsTest {

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
}
