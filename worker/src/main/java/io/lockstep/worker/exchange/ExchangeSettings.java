package io.lockstep.worker.exchange;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * Tuning of the exchange strategies, validated in one place (the canonical constructor), immutable
 * and serializable so the driver can ship it to the Spark tasks. Each component maps to one CLI flag.
 *
 * @param averageEverySteps          {@code --average-every}: local optimizer steps between two parameter
 *                                   averaging rounds of {@code average} (K, at least 1). Default 4: the
 *                                   small end of the K = 4..16 range local SGD is usually run with, so
 *                                   replicas drift little while the network is used 1/K as often
 *                                   (DL4J's ParameterAveraging defaults to 5).
 * @param averageWarmupSteps         {@code --average-warmup-steps}: global steps (counted over the job)
 *                                   trained with synchronous gradient all-reduce before {@code average}
 *                                   switches to local SGD (post-local SGD, Lin et al. 2020). Default 0.
 * @param thresholdInitial           {@code --threshold-initial}: τ of the first step of {@code threshold}, in
 *                                   gradient units (DL4J's gradient is summed over the minibatch). Default
 *                                   1e-3, DL4J's; the adaptive search corrects it on the first step anyway.
 * @param thresholdMinSentFraction   {@code --threshold-min-sent-fraction}: lowest fraction of the gradient's
 *                                   entries a replica sends per step. Default 1e-3 (DL4J: 1e-4). Our exchange
 *                                   is synchronous and latency-bound on small models: sending fewer than
 *                                   1 in 1000 entries saves almost no time but leaves most weights
 *                                   untouched for thousands of steps.
 * @param thresholdMaxSentFraction   {@code --threshold-max-sent-fraction}: highest fraction sent per step.
 *                                   Default 1e-2 (as DL4J): at most 4 bytes per 100 entries, a compression
 *                                   ratio of at least 100 against the dense float gradient. Setting the
 *                                   minimum to 0 and the maximum to 1 keeps τ fixed at its initial value.
 * @param bucketBytes                {@code --bucket-size}: with {@code --overlap on}, the gradient is all-reduced
 *                                   in buckets of whole layers of at least this many bytes, taken in reverse
 *                                   layer order. Default 25 MB, PyTorch DDP's: large enough that a bucket's
 *                                   transfer dwarfs the per-operation latency, small enough that the first
 *                                   bucket leaves early in backward.
 * @param overlap                    {@code --overlap}: {@code allreduce} sends each bucket as soon as backward
 *                                   has produced it, on a communication thread, instead of the whole gradient
 *                                   after backward. Default off.
 */
public record ExchangeSettings(int averageEverySteps, long averageWarmupSteps, double thresholdInitial,
                               double thresholdMinSentFraction, double thresholdMaxSentFraction, long bucketBytes,
                               boolean overlap)
        implements Serializable {

    public static final int DEFAULT_AVERAGE_EVERY_STEPS = 4;
    public static final long DEFAULT_AVERAGE_WARMUP_STEPS = 0;
    public static final double DEFAULT_THRESHOLD_INITIAL = 1e-3;
    public static final double DEFAULT_THRESHOLD_MIN_SENT_FRACTION = 1e-3;
    public static final double DEFAULT_THRESHOLD_MAX_SENT_FRACTION = 1e-2;
    public static final long DEFAULT_BUCKET_BYTES = 25L * 1024 * 1024;

    /** @throws IllegalArgumentException naming every invalid option and its valid range, all in one message */
    public ExchangeSettings {
        List<String> errors = new ArrayList<>();
        if (averageEverySteps < 1) {
            errors.add("--average-every must be at least 1 step, got " + averageEverySteps);
        }
        if (averageWarmupSteps < 0) {
            errors.add("--average-warmup-steps must be >= 0, got " + averageWarmupSteps);
        }
        if (!(thresholdInitial >= Float.MIN_NORMAL && thresholdInitial <= Float.MAX_VALUE / 4)) {
            errors.add("--threshold-initial must be a positive float (at least " + Float.MIN_NORMAL
                    + "), got " + thresholdInitial);
        }
        boolean minValid = thresholdMinSentFraction >= 0 && thresholdMinSentFraction <= 1;
        boolean maxValid = thresholdMaxSentFraction > 0 && thresholdMaxSentFraction <= 1;
        if (!minValid) {
            errors.add("--threshold-min-sent-fraction must be in [0, 1], got " + thresholdMinSentFraction);
        }
        if (!maxValid) {
            errors.add("--threshold-max-sent-fraction must be in (0, 1], got " + thresholdMaxSentFraction);
        }
        if (minValid && maxValid && thresholdMinSentFraction > thresholdMaxSentFraction) {
            errors.add("--threshold-min-sent-fraction (" + thresholdMinSentFraction
                    + ") must not exceed --threshold-max-sent-fraction (" + thresholdMaxSentFraction + ")");
        }
        if (bucketBytes < Float.BYTES) {
            errors.add("--bucket-size must be positive (at least " + Float.BYTES + " bytes), got " + bucketBytes + " bytes");
        }
        if (!errors.isEmpty()) {
            throw new IllegalArgumentException("invalid exchange settings: " + String.join("; ", errors));
        }
    }

    /** The strategies' settings with the default bucket size and overlap off. */
    public ExchangeSettings(int averageEverySteps, long averageWarmupSteps, double thresholdInitial,
                            double thresholdMinSentFraction, double thresholdMaxSentFraction) {
        this(averageEverySteps, averageWarmupSteps, thresholdInitial, thresholdMinSentFraction, thresholdMaxSentFraction,
                DEFAULT_BUCKET_BYTES, false);
    }

    /** The documented defaults. */
    public static ExchangeSettings defaults() {
        return new ExchangeSettings(DEFAULT_AVERAGE_EVERY_STEPS, DEFAULT_AVERAGE_WARMUP_STEPS,
                DEFAULT_THRESHOLD_INITIAL, DEFAULT_THRESHOLD_MIN_SENT_FRACTION, DEFAULT_THRESHOLD_MAX_SENT_FRACTION);
    }

    public ExchangeSettings withAverageEverySteps(int steps) {
        return new ExchangeSettings(steps, averageWarmupSteps, thresholdInitial, thresholdMinSentFraction,
                thresholdMaxSentFraction, bucketBytes, overlap);
    }

    public ExchangeSettings withAverageWarmupSteps(long steps) {
        return new ExchangeSettings(averageEverySteps, steps, thresholdInitial, thresholdMinSentFraction,
                thresholdMaxSentFraction, bucketBytes, overlap);
    }

    public ExchangeSettings withThresholdInitial(double threshold) {
        return new ExchangeSettings(averageEverySteps, averageWarmupSteps, threshold, thresholdMinSentFraction,
                thresholdMaxSentFraction, bucketBytes, overlap);
    }

    public ExchangeSettings withThresholdSentFraction(double min, double max) {
        return new ExchangeSettings(averageEverySteps, averageWarmupSteps, thresholdInitial, min, max, bucketBytes,
                overlap);
    }

    /** These settings with gradient buckets of {@code bytes} overlapped with backward, or not. */
    public ExchangeSettings withOverlap(boolean on, long bytes) {
        return new ExchangeSettings(averageEverySteps, averageWarmupSteps, thresholdInitial, thresholdMinSentFraction,
                thresholdMaxSentFraction, bytes, on);
    }
}
