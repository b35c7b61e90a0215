package io.lockstep.driver.cli;

import io.lockstep.driver.data.TrainingDataOptions;
import io.lockstep.api.Lockstep;
import io.lockstep.api.TrainOptions;
import io.lockstep.driver.cluster.ExecutorDefaults;
import io.lockstep.driver.cluster.ExecutorRegistry;
import io.lockstep.driver.train.ConsoleProgress;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/**
 * {@code lockstep train}: a thin adapter from flags to the Java API ({@link Lockstep}), which it calls
 * with a Spark context of its own and the console progress bar as listener. The training options are
 * not declared here: {@link OptionFlags} adds one flag per option of the catalog. Values not given as
 * flags come from {@code spark.lockstep.<name>} Spark properties or the {@code --config} job file (see
 * {@link OptionSources}); {@link TrainOptions#validate()} checks them all in one place.
 */
@Command(name = "train", mixinStandardHelpOptions = true, showDefaultValues = true, sortOptions = false,
        modelTransformer = OptionFlags.class,
        description = "Train a model with N synchronous replicas (one Spark task each).")
public final class TrainCommand implements Callable<Integer> {

    @Option(names = "--config", paramLabel = "FILE", description = "Job file (option = value lines, see conf/*.conf); flags override it.")
    String config;

    @Mixin
    TrainingDataOptions dataOptions;

    @Spec
    CommandSpec spec;

    /** The training options as given (flags, Spark properties, job file), not yet validated. */
    public TrainOptions options() {
        return OptionFlags.read(spec);
    }

    @Override
    public Integer call() throws Exception {
        TrainOptions options = options().validate();
        var datasetOptions = dataOptions.toOptions();
        SparkConf sparkConf = new SparkConf()
                .setAppName("lockstep train " + options.get(TrainOptions.MODEL))
                .setMaster(options.get(TrainOptions.MASTER))
                .setIfMissing("spark.scheduler.minRegisteredResourcesRatio", "1.0")
                .setIfMissing("spark.executor.heartbeatInterval", "2s")
                .setIfMissing("spark.ui.enabled", "true");
        ExecutorDefaults.applyTo(sparkConf);
        if (options.get(TrainOptions.NO_SPARK_UI)) {
            sparkConf.set("spark.ui.enabled", "false");
        }
        ExecutorRegistry.install(sparkConf);
        ConsoleProgress console = new ConsoleProgress();
        try (JavaSparkContext sc = new JavaSparkContext(sparkConf)) {
            sc.setLogLevel("WARN");
            Lockstep.on(sc).model(options.get(TrainOptions.MODEL)).options(options).listener(console)
                    .fit(options.get(TrainOptions.DATA), datasetOptions);
        } finally {
            console.closeBar();
        }
        return 0;
    }
}
