package io.lockstep.driver.bench;

import picocli.CommandLine.Command;

/** {@code lockstep bench}: benchmarks that print figures and ratios (never pass/fail). */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks: figures and ratios, measured on this machine.",
        subcommands = {StepTimeBenchmark.class, BatchNormBenchmark.class, ConvBenchmark.class, AllReduceBenchmark.class,
                AllReduceRankBenchmark.class, TrainRankBenchmark.class})
public final class BenchCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
