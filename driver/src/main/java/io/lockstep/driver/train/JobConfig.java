package io.lockstep.driver.train;

import io.lockstep.driver.cli.UserError;
import io.lockstep.models.ModelRegistry;
import io.lockstep.worker.exchange.ExchangeSettings;
import io.lockstep.worker.train.LearningRateSchedule;
import io.lockstep.worker.train.Optimizer;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A training job's configuration, validated in one place: {@link #validate()} reports every problem
 * at once, each naming the option and the fix. Field names follow the command-line options.
 */
public record JobConfig(String model, String data, String out, int epochs, int batchSize, double learningRate,
                        String optimizer, double weightDecay, long seed, int replicas, String master, String norm,
                        String lrScaling, String lrDecay, double warmupEpochs, int checkEverySteps, String checkpointDir,
                        int checkpointEverySteps, boolean resume, String resumeFrom, String onNan, String exchange,
                        int averageEvery, long averageWarmupSteps, double thresholdInitial,
                        double thresholdMinSentFraction, double thresholdMaxSentFraction,
                        int keepCheckpoints, int threadsPerReplica, int evalBatchSize, long collectiveTimeoutMs,
                        long dataTimeoutMs, long slotWaitMs, int maxStepsPerEpoch, int metricsEverySteps,
                        double stallFactor, boolean sparkUi) {

    public JobConfig validate() {
        List<String> errors = new ArrayList<>();
        try {
            ModelRegistry.get(model);
        } catch (IllegalArgumentException e) {
            errors.add("--model: " + e.getMessage());
        }
        if (data == null || data.isBlank()) {
            errors.add("--data: give the dataset directory");
        }
        if (out == null || out.isBlank()) {
            errors.add("--out: give an output directory");
        }
        positive(errors, "--epochs", epochs);
        positive(errors, "--batch-size", batchSize);
        positive(errors, "--replicas", replicas);
        positive(errors, "--eval-batch-size", evalBatchSize);
        if (!(learningRate > 0) || !Double.isFinite(learningRate)) {
            errors.add("--lr: must be a positive number, got " + learningRate);
        }
        if (weightDecay < 0 || !Double.isFinite(weightDecay)) {
            errors.add("--weight-decay: must be >= 0, got " + weightDecay);
        }
        try {
            Optimizer.parse(optimizer);
        } catch (IllegalArgumentException e) {
            errors.add("--optimizer: " + e.getMessage());
        }
        if (norm != null && !List.of("batch", "sync-batch", "none").contains(norm)) {
            errors.add("--norm: unknown normalization '" + norm + "'; use batch, sync-batch or none");
        }
        if (!List.of("linear", "none").contains(lrScaling)) {
            errors.add("--lr-scaling: use linear or none, got '" + lrScaling + "'");
        }
        if (!List.of("cosine", "none").contains(lrDecay)) {
            errors.add("--lr-decay: use cosine or none, got '" + lrDecay + "'");
        }
        if (warmupEpochs < 0 || !Double.isFinite(warmupEpochs)) {
            errors.add("--warmup-epochs: must be >= 0, got " + warmupEpochs);
        }
        nonNegative(errors, "--check-every", checkEverySteps);
        nonNegative(errors, "--checkpoint-every", checkpointEverySteps);
        if (resume && resumeFrom != null) {
            errors.add("--resume and --resume-from: give one of them");
        }
        if (!List.of("stop", "skip-step").contains(onNan)) {
            errors.add("--on-nan: use stop or skip-step, got '" + onNan + "'");
        }
        if (!List.of("allreduce", "average", "threshold").contains(exchange)) {
            errors.add("--exchange: use allreduce, average or threshold, got '" + exchange + "'");
        }
        try {
            exchangeSettings();
        } catch (IllegalArgumentException e) {
            errors.add(e.getMessage());
        }
        nonNegative(errors, "--keep-checkpoints", keepCheckpoints);
        nonNegative(errors, "--threads-per-replica", threadsPerReplica);
        nonNegative(errors, "--max-steps-per-epoch", maxStepsPerEpoch);
        nonNegative(errors, "--slot-wait-ms", slotWaitMs);
        positive(errors, "--metrics-every", metricsEverySteps);
        if (!(stallFactor > 1) || !Double.isFinite(stallFactor)) {
            errors.add("--stall-factor: must be a number above 1 (a multiple of the median step time), got " + stallFactor);
        }
        if (collectiveTimeoutMs < 1000) {
            errors.add("--collective-timeout-ms: must be at least 1000, got " + collectiveTimeoutMs);
        }
        if (dataTimeoutMs < 1000) {
            errors.add("--data-timeout-ms: must be at least 1000, got " + dataTimeoutMs);
        }
        if (!errors.isEmpty()) {
            throw new UserError("invalid options:\n  " + String.join("\n  ", errors));
        }
        return this;
    }

    private static void positive(List<String> errors, String option, long value) {
        if (value <= 0) {
            errors.add(option + ": must be a positive integer, got " + value);
        }
    }

    private static void nonNegative(List<String> errors, String option, long value) {
        if (value < 0) {
            errors.add(option + ": must be >= 0, got " + value);
        }
    }

    /** The normalization actually used: sync-batch by default when several replicas train. */
    public String effectiveNorm() {
        if (norm != null) {
            return norm;
        }
        return replicas > 1 ? "sync-batch" : "batch";
    }

    public String effectiveMaster() {
        if (master != null && !master.isBlank()) {
            return master;
        }
        String fromSubmit = System.getProperty("spark.master");
        return fromSubmit != null ? fromSubmit : "local[" + replicas + "]";
    }

    public String effectiveCheckpointDir() {
        return checkpointDir != null ? checkpointDir : out.replaceAll("/+$", "") + "/checkpoints";
    }

    public Optimizer optimizerKind() {
        return Optimizer.parse(optimizer);
    }

    public LearningRateSchedule.Scaling scaling() {
        return LearningRateSchedule.Scaling.valueOf(lrScaling.toUpperCase(Locale.ROOT));
    }

    public LearningRateSchedule.Decay decay() {
        return LearningRateSchedule.Decay.valueOf(lrDecay.toUpperCase(Locale.ROOT));
    }

    public ExchangeSettings exchangeSettings() {
        return new ExchangeSettings(averageEvery, averageWarmupSteps, thresholdInitial, thresholdMinSentFraction,
                thresholdMaxSentFraction);
    }

    /** Option name to value, as recorded in checkpoints and summary.json. */
    public Map<String, String> asMap() {
        Map<String, String> map = new LinkedHashMap<>();
        map.put("model", model);
        map.put("data", data);
        map.put("out", out);
        map.put("epochs", String.valueOf(epochs));
        map.put("batch-size", String.valueOf(batchSize));
        map.put("lr", String.valueOf(learningRate));
        map.put("optimizer", optimizer);
        map.put("weight-decay", String.valueOf(weightDecay));
        map.put("seed", String.valueOf(seed));
        map.put("replicas", String.valueOf(replicas));
        map.put("master", effectiveMaster());
        map.put("norm", effectiveNorm());
        map.put("lr-scaling", lrScaling);
        map.put("lr-decay", lrDecay);
        map.put("warmup-epochs", String.valueOf(warmupEpochs));
        map.put("check-every", String.valueOf(checkEverySteps));
        map.put("checkpoint-dir", effectiveCheckpointDir());
        map.put("checkpoint-every", String.valueOf(checkpointEverySteps));
        map.put("on-nan", onNan);
        map.put("exchange", exchange);
        map.put("average-every", String.valueOf(averageEvery));
        map.put("average-warmup-steps", String.valueOf(averageWarmupSteps));
        map.put("threshold-initial", String.valueOf(thresholdInitial));
        map.put("threshold-min-sent-fraction", String.valueOf(thresholdMinSentFraction));
        map.put("threshold-max-sent-fraction", String.valueOf(thresholdMaxSentFraction));
        map.put("keep-checkpoints", String.valueOf(keepCheckpoints));
        map.put("threads-per-replica", String.valueOf(threadsPerReplica));
        map.put("eval-batch-size", String.valueOf(evalBatchSize));
        map.put("collective-timeout-ms", String.valueOf(collectiveTimeoutMs));
        map.put("data-timeout-ms", String.valueOf(dataTimeoutMs));
        map.put("slot-wait-ms", String.valueOf(slotWaitMs));
        map.put("max-steps-per-epoch", String.valueOf(maxStepsPerEpoch));
        map.put("metrics-every", String.valueOf(metricsEverySteps));
        map.put("stall-factor", String.valueOf(stallFactor));
        map.put("spark-ui", String.valueOf(sparkUi));
        return map;
    }
}
