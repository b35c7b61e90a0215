package io.lockstep.worker.spark;

import io.lockstep.worker.train.StepObserver;
import org.apache.spark.TaskContext;

import java.io.Serializable;

/** Hands rank 0's step results to the {@link ProgressAccumulator} registered by the driver. */
public final class TaskProgress implements Serializable {
    private final ProgressAccumulator accumulator;

    public TaskProgress(ProgressAccumulator accumulator) {
        this.accumulator = accumulator;
    }

    /** An observer for the current task; throughput is a moving average over recent steps. */
    public StepObserver observer(TaskContext context) {
        return new StepObserver() {
            private double smoothedRate = Double.NaN;

            @Override
            public void stepDone(int epoch, int step, int steps, double loss, long stepNanos, int examples) {
                double rate = stepNanos > 0 ? examples * 1e9 / stepNanos : 0;
                smoothedRate = Double.isNaN(smoothedRate) ? rate : 0.9 * smoothedRate + 0.1 * rate;
                accumulator.add(new double[]{epoch, step + 1, steps, loss, smoothedRate});
            }
        };
    }
}
