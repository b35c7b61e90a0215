package io.lockstep.driver;

import io.lockstep.driver.cli.EvaluateCommand;
import io.lockstep.driver.cli.ModelsCommand;
import io.lockstep.driver.cli.OptionSources;
import io.lockstep.driver.cli.PredictCommand;
import io.lockstep.driver.cli.TrainCommand;
import io.lockstep.driver.cli.UserError;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code lockstep}: the command line, and the main class for {@code spark-submit --class io.lockstep.driver.Main}.
 * Exit codes: 0 success, 1 failure during the job, 2 bad input or options.
 */
@Command(name = "lockstep", mixinStandardHelpOptions = true, version = "lockstep 0.1.0",
        description = "Synchronous data-parallel training of convolutional networks on Apache Spark.",
        subcommands = {ModelsCommand.class, TrainCommand.class, EvaluateCommand.class, PredictCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(Main.class);

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Registers extra subcommands (benchmarks, data tools) that live in other packages. */
    static CommandLine commandLine(String[] args) {
        CommandLine cli = new CommandLine(new Main());
        Subcommands.addTo(cli);
        cli.setDefaultValueProvider(OptionSources.fromArgs(args));
        // A flag given twice takes its last value, so a command can be extended by appending flags.
        cli.setOverwrittenOptionsAllowed(true);
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (e instanceof UserError || e instanceof IllegalArgumentException) {
                commandLine.getErr().println("lockstep: error: " + e.getMessage());
                return 2;
            }
            LOG.error("lockstep failed", e);
            commandLine.getErr().println("lockstep: failed: " + rootMessage(e));
            return 1;
        });
        return cli;
    }

    public static int run(String... args) {
        try {
            return commandLine(args).execute(args);
        } catch (IllegalArgumentException e) {
            System.err.println("lockstep: error: " + e.getMessage());
            return 2;
        }
    }

    private static String rootMessage(Throwable e) {
        StringBuilder message = new StringBuilder(String.valueOf(e.getMessage()));
        Throwable cause = e.getCause();
        while (cause != null && cause != e) {
            if (cause.getMessage() != null && !message.toString().contains(cause.getMessage())) {
                message.append(" <- ").append(cause.getMessage());
            }
            e = cause;
            cause = cause.getCause();
        }
        return message.toString();
    }

    public static void main(String[] args) {
        int code = run(args);
        if (isYarnClusterDriver()) {
            // YARN's application master runs this main on a thread, reports the final status when it
            // returns or throws, and exits the JVM itself; System.exit would pre-empt the report and YARN
            // would record even a successful job as failed.
            if (code != 0) {
                throw new IllegalStateException("lockstep exited with code " + code + "; the error is logged above");
            }
            return;
        }
        // Spark can leave non-daemon threads (the barrier timer) behind after stop(): exit explicitly.
        System.exit(code);
    }

    /** In YARN cluster deploy mode, the application master has put the job's Spark settings in the system properties. */
    private static boolean isYarnClusterDriver() {
        return System.getProperty("spark.master", "").startsWith("yarn")
                && "cluster".equals(System.getProperty("spark.submit.deployMode"));
    }
}
