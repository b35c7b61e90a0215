package io.lockstep.worker.train;

/** Receives each finished step on the training thread; must return quickly and never block. */
@FunctionalInterface
public interface StepObserver {
    void stepDone(StepTiming timing);

    StepObserver NONE = timing -> { };
}
