package io.lockstep.worker.spark;

import io.lockstep.worker.train.StepTiming;
import org.apache.spark.util.AccumulatorV2;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Every replica's latest step timings, carried to the driver by Spark's executor heartbeats while the
 * stage runs (each heartbeat holds the running task's whole value, so the driver takes what it has not
 * seen yet). The value is a window of the most recent {@value #WINDOW} steps, so a heartbeat stays a
 * few tens of KB however long the epoch; steps that fall out of the window before a heartbeat carries
 * them reach the driver anyway in the epoch's reports.
 *
 * <p>One task thread adds; the heartbeat thread serializes concurrently: the window is an immutable
 * array replaced on every add, so it is always read whole.
 */
public final class StepTimesAccumulator extends AccumulatorV2<StepTimesAccumulator.HostedStep, List<StepTimesAccumulator.HostedStep>> {
    static final int WINDOW = 256;
    private static final HostedStep[] EMPTY = new HostedStep[0];

    /** A step's timing and the host of the executor that ran the replica. */
    public record HostedStep(String host, StepTiming timing) implements java.io.Serializable {
    }

    private volatile HostedStep[] window = EMPTY;

    @Override
    public boolean isZero() {
        return window.length == 0;
    }

    @Override
    public AccumulatorV2<HostedStep, List<HostedStep>> copy() {
        StepTimesAccumulator copy = new StepTimesAccumulator();
        copy.window = window;
        return copy;
    }

    @Override
    public void reset() {
        window = EMPTY;
    }

    @Override
    public void add(HostedStep step) {
        HostedStep[] old = window;
        int keep = Math.min(old.length, WINDOW - 1);
        HostedStep[] next = Arrays.copyOfRange(old, old.length - keep, old.length + 1);
        next[keep] = step;
        window = next;
    }

    @Override
    public void merge(AccumulatorV2<HostedStep, List<HostedStep>> other) {
        for (HostedStep step : other.value()) {
            add(step);
        }
    }

    @Override
    public List<HostedStep> value() {
        return new ArrayList<>(Arrays.asList(window));
    }
}
