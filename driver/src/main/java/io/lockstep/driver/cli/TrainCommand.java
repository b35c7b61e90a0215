package io.lockstep.driver.cli;

import io.lockstep.driver.data.DataOptions;
import io.lockstep.driver.data.DatasetSource;
import io.lockstep.driver.train.JobConfig;
import io.lockstep.driver.train.TrainingJob;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/**
 * {@code lockstep train}: every training option is defined here, once — name, default and doc. Values
 * not given as flags come from {@code spark.lockstep.<name>} Spark properties or the {@code --config}
 * job file (see {@link OptionSources}); {@link JobConfig#validate()} checks them all in one place.
 */
@Command(name = "train", mixinStandardHelpOptions = true, showDefaultValues = true, sortOptions = false,
        description = "Train a model with N synchronous replicas (one Spark task each).")
public final class TrainCommand implements Callable<Integer> {

    @Option(names = "--config", paramLabel = "FILE", description = "Job file (option = value lines, see conf/*.conf); flags override it.")
    String config;

    @Option(names = "--model", defaultValue = "lenet5", description = "Model name (see `lockstep models`).")
    String model;

    @Option(names = "--data", required = true, paramLabel = "URI",
            description = "Dataset directory on any Hadoop filesystem (file://, hdfs://, s3a:// or a local path).")
    String data;

    @Mixin
    DataOptions dataOptions;

    @Option(names = "--out", defaultValue = "lockstep-out", paramLabel = "DIR",
            description = "Output directory: metrics.jsonl, summary.json, model.zip, checkpoints/.")
    String out;

    @Option(names = "--epochs", defaultValue = "5", description = "Epochs to train.")
    int epochs;

    @Option(names = "--batch-size", defaultValue = "64", description = "Examples per replica per step (global batch = replicas x this).")
    int batchSize;

    @Option(names = "--lr", defaultValue = "0.01", description = "Base learning rate (for one replica; see --lr-scaling).")
    double learningRate;

    @Option(names = "--optimizer", defaultValue = "nesterov", description = "sgd, nesterov (momentum 0.9) or adam.")
    String optimizer;

    @Option(names = "--weight-decay", defaultValue = "0", description = "Weight decay on weights (not biases or BatchNorm).")
    double weightDecay;

    @Option(names = "--seed", defaultValue = "42", description = "Seed for initialization, shuffling and augmentation.")
    long seed;

    @Option(names = "--replicas", defaultValue = "1", description = "Synchronous replicas, one Spark task each.")
    int replicas;

    @Option(names = "--master", description = "Spark master; default: the one spark-submit set, else local[replicas].")
    String master;

    @Option(names = "--norm", description = "batch, sync-batch or none; default: sync-batch when replicas > 1, else batch.")
    String norm;

    @Option(names = "--lr-scaling", defaultValue = "linear", description = "linear (rate x replicas, Goyal et al. 2017) or none.")
    String lrScaling;

    @Option(names = "--lr-decay", defaultValue = "cosine", description = "cosine (half cosine to 0 over the run, after warm-up) or none.")
    String lrDecay;

    @Option(names = "--warmup-epochs", defaultValue = "0", description = "Epochs of gradual warm-up to the scaled rate.")
    double warmupEpochs;

    @Option(names = "--check-every", defaultValue = "100", description = "Compare a parameter checksum across replicas every N steps (0: never).")
    int checkEverySteps;

    @Option(names = "--checkpoint-dir", paramLabel = "URI", description = "Checkpoint directory (any Hadoop filesystem); default: OUT/checkpoints.")
    String checkpointDir;

    @Option(names = "--checkpoint-every", defaultValue = "0", paramLabel = "STEPS",
            description = "Also checkpoint every STEPS steps within an epoch (0: only at epoch ends, which are always checkpointed: that is how the model crosses epochs).")
    int checkpointEverySteps;

    @Option(names = "--resume", description = "Continue from the newest complete checkpoint in the checkpoint directory.")
    boolean resume;

    @Option(names = "--resume-from", paramLabel = "URI", description = "Continue from this checkpoint directory (checkpoint-EEEEE-SSSSSSSS).")
    String resumeFrom;

    @Option(names = "--on-nan", defaultValue = "stop", description = "stop (name the epoch, step and last good checkpoint) or skip-step.")
    String onNan;

    @Option(names = "--exchange", defaultValue = "allreduce", description = "Gradient exchange: allreduce (synchronous SGD), average (local SGD) or threshold.")
    String exchange;

    @Option(names = "--average-every", defaultValue = "4", paramLabel = "K", description = "--exchange average: local steps between averaging rounds.")
    int averageEvery;

    @Option(names = "--average-warmup-steps", defaultValue = "0", paramLabel = "W", description = "--exchange average: synchronous all-reduce for the first W steps (post-local SGD).")
    long averageWarmupSteps;

    @Option(names = "--threshold-initial", defaultValue = "0.001", description = "--exchange threshold: initial threshold tau.")
    double thresholdInitial;

    @Option(names = "--threshold-min-sent-fraction", defaultValue = "0.001", description = "--exchange threshold: adapt tau so at least this fraction of entries is sent.")
    double thresholdMinSentFraction;

    @Option(names = "--threshold-max-sent-fraction", defaultValue = "0.01", description = "--exchange threshold: adapt tau so at most this fraction of entries is sent.")
    double thresholdMaxSentFraction;

    @Option(names = "--keep-checkpoints", defaultValue = "2", description = "Checkpoints to keep (0: all).")
    int keepCheckpoints;

    @Option(names = "--threads-per-replica", defaultValue = "0", description = "ND4J threads per replica (0: task CPUs, or cores / replicas in local mode).")
    int threadsPerReplica;

    @Option(names = "--eval-batch-size", defaultValue = "256", description = "Batch size for evaluation.")
    int evalBatchSize;

    @Option(names = "--collective-timeout-ms", defaultValue = "120000", description = "Deadline of each collective operation between replicas.")
    long collectiveTimeoutMs;

    @Option(names = "--data-timeout-ms", defaultValue = "120000", description = "Deadline for the prefetch thread to prepare a batch.")
    long dataTimeoutMs;

    @Option(names = "--slot-wait-ms", defaultValue = "120000", description = "How long to wait for executors to offer --replicas slots.")
    long slotWaitMs;

    @Option(names = "--max-steps-per-epoch", defaultValue = "0", description = "Cap on steps per epoch, for smoke tests (0: no cap).")
    int maxStepsPerEpoch;

    @Option(names = "--metrics-every", defaultValue = "1", paramLabel = "STEPS",
            description = "Write every replica's timings of every STEPS-th step to metrics.jsonl as the run goes (and judge those steps for stalls).")
    int metricsEverySteps;

    @Option(names = "--stall-factor", defaultValue = "3", paramLabel = "X",
            description = "Report a stall (slow rank, its host and phase) when a step takes more than X times the running median step time.")
    double stallFactor;

    @Option(names = "--spark-ui", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Serve the Spark UI (port spark.ui.port, default 4040 or the next free one) with each epoch's jobs described; --no-spark-ui turns it off.")
    boolean sparkUi;

    public JobConfig toConfig() {
        return toConfigUnchecked().validate();
    }

    /** The options as given, not yet validated (for tests of defaults). */
    JobConfig toConfigUnchecked() {
        return new JobConfig(model, data, out, epochs, batchSize, learningRate, optimizer, weightDecay, seed, replicas,
                master, norm, lrScaling, lrDecay, warmupEpochs, checkEverySteps, checkpointDir, checkpointEverySteps, resume, resumeFrom, onNan, exchange,
                averageEvery, averageWarmupSteps, thresholdInitial, thresholdMinSentFraction, thresholdMaxSentFraction,
                keepCheckpoints, threadsPerReplica,
                evalBatchSize, collectiveTimeoutMs, dataTimeoutMs, slotWaitMs, maxStepsPerEpoch, metricsEverySteps,
                stallFactor, sparkUi);
    }

    @Override
    public Integer call() throws Exception {
        JobConfig config = toConfig();
        var datasetOptions = dataOptions.toOptions();
        new TrainingJob(config, (uri, conf) -> DatasetSource.open(uri, conf, datasetOptions)).run();
        return 0;
    }
}
