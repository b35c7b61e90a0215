package io.lockstep.worker.spark;

import org.apache.spark.util.AccumulatorV2;

/**
 * The latest training position of rank 0, carried to the driver by Spark's executor heartbeats
 * (accumulator updates of running tasks ride on every heartbeat), so the driver can show live
 * progress without any connection of its own. Value layout: see the {@code *_INDEX} constants.
 * Written by one task thread; merging keeps the most advanced position.
 */
public final class ProgressAccumulator extends AccumulatorV2<double[], double[]> {
    public static final int EPOCH = 0;
    public static final int STEP = 1;
    public static final int STEPS = 2;
    public static final int LOSS = 3;
    public static final int EXAMPLES_PER_SECOND = 4;
    private static final int SIZE = 5;

    private double[] latest = new double[SIZE];
    private boolean zero = true;

    @Override
    public boolean isZero() {
        return zero;
    }

    @Override
    public AccumulatorV2<double[], double[]> copy() {
        ProgressAccumulator copy = new ProgressAccumulator();
        copy.latest = latest.clone();
        copy.zero = zero;
        return copy;
    }

    @Override
    public void reset() {
        latest = new double[SIZE];
        zero = true;
    }

    @Override
    public void add(double[] position) {
        if (position.length != SIZE) {
            throw new IllegalArgumentException("progress has " + SIZE + " fields, got " + position.length);
        }
        // Replace the array rather than mutate it: heartbeats may read the old one concurrently.
        latest = position.clone();
        zero = false;
    }

    @Override
    public void merge(AccumulatorV2<double[], double[]> other) {
        double[] theirs = other.value();
        if (zero || theirs[EPOCH] > latest[EPOCH] || (theirs[EPOCH] == latest[EPOCH] && theirs[STEP] > latest[STEP])) {
            latest = theirs.clone();
            zero = other.isZero();
        }
    }

    @Override
    public double[] value() {
        return latest.clone();
    }
}
