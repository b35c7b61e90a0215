package io.lockstep.worker.train;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Turns each replica's local gradient into the gradient every replica applies. Called on the
 * training thread after backprop and before the optimizer, with the flattened gradient view of the
 * whole model: implementations rewrite it in place. Every replica calls it once per step, in the
 * same order, so implementations may use the collective freely.
 */
public interface GradientExchange extends AutoCloseable {

    /** Rewrites {@code flatGradient} in place with the exchanged gradient. */
    void exchange(INDArray flatGradient, int epoch, long step);

    /** Bytes this replica sent in its last exchange (for metrics). */
    long lastBytesSent();

    /** Wall time of the last exchange in nanoseconds. */
    long lastExchangeNanos();

    @Override
    default void close() {
    }

    /** The exchange of a single replica: the gradient is already the global one. */
    static GradientExchange none() {
        return new GradientExchange() {
            @Override
            public void exchange(INDArray flatGradient, int epoch, long step) {
            }

            @Override
            public long lastBytesSent() {
                return 0;
            }

            @Override
            public long lastExchangeNanos() {
                return 0;
            }
        };
    }
}
