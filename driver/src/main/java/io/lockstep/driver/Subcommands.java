package io.lockstep.driver;

import picocli.CommandLine;

/**
 * Subcommands contributed by other driver packages (benchmarks, data tools, weight import), registered by name so
 * that the command line lists them all in one place.
 */
final class Subcommands {
    private Subcommands() {
    }

    static void addTo(CommandLine cli) {
        cli.addSubcommand(new io.lockstep.driver.data.InspectDataCommand());
        cli.addSubcommand(new io.lockstep.driver.data.ExportImagesCommand());
        cli.addSubcommand(new io.lockstep.driver.data.MakeSubsetCommand());
        cli.addSubcommand(new io.lockstep.driver.bench.BenchCommand());
        cli.addSubcommand(new io.lockstep.driver.cli.ImportWeightsCommand());
        cli.addSubcommand(new io.lockstep.driver.report.ReportCommand());
    }
}
