package io.lockstep.worker.spark;

import io.lockstep.worker.train.StepObserver;
import io.lockstep.worker.train.StepTiming;
import org.apache.spark.TaskContext;

import java.io.Serializable;

/**
 * Hands step results to the accumulators registered by the driver: rank 0's position to the
 * {@link ProgressAccumulator} (the console bar), and every rank's timings, every
 * {@code everySteps}-th step, to the {@link StepTimesAccumulator} (live metrics and stall reports).
 */
public final class TaskProgress implements Serializable {
    private final ProgressAccumulator accumulator;
    private final StepTimesAccumulator stepTimes;
    private final int everySteps;

    public TaskProgress(ProgressAccumulator accumulator, StepTimesAccumulator stepTimes, int everySteps) {
        if (everySteps < 1) {
            throw new IllegalArgumentException("everySteps must be >= 1, got " + everySteps);
        }
        this.accumulator = accumulator;
        this.stepTimes = stepTimes;
        this.everySteps = everySteps;
    }

    /** An observer for the current task; throughput is a moving average over recent steps. */
    public StepObserver observer(TaskContext context) {
        String host = hostName();
        return new StepObserver() {
            private double smoothedRate = Double.NaN;

            @Override
            public void stepDone(StepTiming t) {
                if (t.rank() == 0) {
                    long stepNanos = t.totalNanos();
                    double rate = stepNanos > 0 ? t.examples() * 1e9 / stepNanos : 0;
                    smoothedRate = Double.isNaN(smoothedRate) ? rate : 0.9 * smoothedRate + 0.1 * rate;
                    accumulator.add(new double[]{t.epoch(), t.step() + 1, t.steps(), t.loss(), smoothedRate});
                }
                if ((t.step() + 1) % everySteps == 0 || t.step() + 1 == t.steps()) {
                    stepTimes.add(new StepTimesAccumulator.HostedStep(host, t));
                }
            }
        };
    }

    /** The executor's host as Spark names it (the block manager's), so it matches the Spark UI. */
    private static String hostName() {
        org.apache.spark.SparkEnv env = org.apache.spark.SparkEnv.get();
        return env == null ? "unknown" : env.blockManager().blockManagerId().host();
    }
}
