package io.lockstep.api;

/**
 * Hears how a training job progresses, on the driver. Lockstep also logs through SLF4J; the
 * command line's console progress bar is one such listener.
 *
 * <p>{@link #stepReached} is called on Spark's listener-bus thread as executor heartbeats arrive (so
 * not for every step, and possibly late); the other methods on the thread that called
 * {@code fit}. Keep the methods quick: a slow listener delays the job.
 */
public interface ProgressListener {
    /** Epoch {@code epoch} (0-based) of {@code epochs} starts, with {@code steps} steps per replica. */
    default void epochStarted(int epoch, int epochs, int steps) {
    }

    /** Rank 0 has trained step {@code step} (0-based) of {@code epoch}; {@code imagesPerSecond} is the job's rate. */
    default void stepReached(int epoch, long step, double loss, double imagesPerSecond) {
    }

    /** Epoch {@code result.epoch()} has been trained, checkpointed and evaluated. */
    default void epochFinished(EpochResult result) {
    }

    /** The job has finished (not called when it fails). */
    default void trainingFinished(TrainResult result) {
    }
}
