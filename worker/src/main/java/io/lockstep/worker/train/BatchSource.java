package io.lockstep.worker.train;

import org.nd4j.linalg.dataset.DataSet;

/**
 * The batches of one replica for one epoch, in order. {@link #batch(int)} is called by the prefetch
 * thread, never the training thread, with steps 0, 1, 2, ... in order.
 */
public interface BatchSource {
    /** Number of steps (batches) in this epoch; the same on every replica. */
    int steps();

    /** Decodes and assembles batch {@code step} (features NCHW float, labels one-hot). */
    DataSet batch(int step);
}
