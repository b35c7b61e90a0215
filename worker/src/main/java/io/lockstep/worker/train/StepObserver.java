package io.lockstep.worker.train;

/** Receives each finished step on the training thread; must return quickly and never block. */
@FunctionalInterface
public interface StepObserver {
    void stepDone(int epoch, int step, int steps, double loss, long stepNanos, int examples);

    StepObserver NONE = (epoch, step, steps, loss, stepNanos, examples) -> { };
}
