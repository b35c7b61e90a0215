package io.lockstep.bench.dl4jspark;

import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * Lockstep's learning-rate schedule without warm-up: a half cosine from {@code target} down to 0 over
 * {@code totalIterations} DL4J iterations ({@link #valueAt} is called with the network's iteration
 * count, which each DL4J training master propagates in its own way: see the peer's README). A DL4J
 * configuration object: immutable, serialized into the network JSON with its class name.
 */
public final class CosineSchedule implements ISchedule {
    private final double target;
    private final int totalIterations;

    public CosineSchedule(@JsonProperty("target") double target, @JsonProperty("totalIterations") int totalIterations) {
        if (!(target > 0) || totalIterations < 1) {
            throw new IllegalArgumentException("cosine schedule needs a positive rate and at least one iteration, got "
                    + target + " over " + totalIterations);
        }
        this.target = target;
        this.totalIterations = totalIterations;
    }

    @Override
    public double valueAt(int iteration, int epoch) {
        double progress = Math.min(1.0, Math.max(0, iteration) / (double) totalIterations);
        return target * 0.5 * (1 + Math.cos(Math.PI * progress));
    }

    @Override
    public ISchedule clone() {
        return new CosineSchedule(target, totalIterations);
    }

    public double getTarget() {
        return target;
    }

    public int getTotalIterations() {
        return totalIterations;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CosineSchedule c && c.target == target && c.totalIterations == totalIterations;
    }

    @Override
    public int hashCode() {
        return Double.hashCode(target) * 31 + totalIterations;
    }
}
