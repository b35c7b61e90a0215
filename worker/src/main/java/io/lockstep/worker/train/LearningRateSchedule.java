package io.lockstep.worker.train;

import java.io.Serializable;

/**
 * Learning rate for the global batch of N replicas.
 *
 * <p>With {@link Scaling#LINEAR} the target rate is {@code baseRate * replicas} (Goyal et al. 2017:
 * multiplying the batch by k multiplies the rate by k), reached by a gradual warm-up that rises
 * linearly from {@code baseRate} to the target over {@code warmupEpochs} epochs, step by step.
 * With {@link Scaling#NONE} the base rate is used as given, and warm-up (if any) rises from
 * {@code baseRate / 10} to it. After warm-up, {@link Decay#COSINE} follows a half cosine from the
 * target rate down to 0 at the end of the last epoch (Loshchilov and Hutter 2017, without restarts);
 * {@link Decay#NONE} keeps the target rate. Immutable and pure, so every replica computes the same rate.
 */
public record LearningRateSchedule(double baseRate, Scaling scaling, int replicas, double warmupEpochs,
                                   int stepsPerEpoch, Decay decay, int epochs) implements Serializable {

    public enum Scaling { LINEAR, NONE }

    public enum Decay { NONE, COSINE }

    /** A schedule without decay. */
    public LearningRateSchedule(double baseRate, Scaling scaling, int replicas, double warmupEpochs, int stepsPerEpoch) {
        this(baseRate, scaling, replicas, warmupEpochs, stepsPerEpoch, Decay.NONE, 1);
    }

    public LearningRateSchedule {
        if (!(baseRate > 0) || !Double.isFinite(baseRate)) {
            throw new IllegalArgumentException("learning rate must be a positive number, got " + baseRate);
        }
        if (replicas < 1) {
            throw new IllegalArgumentException("replicas must be at least 1, got " + replicas);
        }
        if (warmupEpochs < 0 || !Double.isFinite(warmupEpochs)) {
            throw new IllegalArgumentException("warm-up epochs must be >= 0, got " + warmupEpochs);
        }
        if (stepsPerEpoch < 1) {
            throw new IllegalArgumentException("steps per epoch must be at least 1, got " + stepsPerEpoch);
        }
        if (epochs < 1) {
            throw new IllegalArgumentException("epochs must be at least 1, got " + epochs);
        }
    }

    public double targetRate() {
        return scaling == Scaling.LINEAR ? baseRate * replicas : baseRate;
    }

    /** Rate for the given 0-based epoch and step within the epoch. */
    public double rateAt(int epoch, long stepInEpoch) {
        double target = targetRate();
        double warmupSteps = warmupEpochs * stepsPerEpoch;
        double done = (double) epoch * stepsPerEpoch + stepInEpoch;
        if (done >= warmupSteps) {
            if (decay == Decay.NONE) {
                return target;
            }
            double total = (double) epochs * stepsPerEpoch;
            double progress = Math.min(1, (done - warmupSteps) / Math.max(1, total - warmupSteps));
            return target * 0.5 * (1 + Math.cos(Math.PI * progress));
        }
        double start = scaling == Scaling.LINEAR ? baseRate : baseRate / 10;
        return start + (target - start) * (done / warmupSteps);
    }
}
