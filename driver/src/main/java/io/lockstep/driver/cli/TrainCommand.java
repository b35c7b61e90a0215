package io.lockstep.driver.cli;

import io.lockstep.driver.data.DataOptions;
import io.lockstep.driver.data.DatasetSource;
import io.lockstep.api.TrainOptions;
import io.lockstep.driver.train.TrainingJob;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/**
 * {@code lockstep train}: a thin adapter from flags to {@link TrainOptions}. The training options are
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
    DataOptions dataOptions;

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
        new TrainingJob(options, (uri, conf) -> DatasetSource.open(uri, conf, datasetOptions)).run();
        return 0;
    }
}
