package io.lockstep.worker.train;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * How replicas combine their work each step (the {@code --exchange} strategy). Two hooks, both on the
 * training thread and called by every replica once per step in the same order, so implementations
 * may use the collective freely:
 * <ol>
 *   <li>{@link #exchange} after backprop and before the optimizer, with the flattened gradient view
 *       of the whole model: synchronous strategies rewrite it in place;</li>
 *   <li>{@link #afterStep} after the optimizer has updated the parameters: strategies that average
 *       parameters (local SGD) do it here.</li>
 * </ol>
 */
public interface GradientExchange extends AutoCloseable {

    /**
     * Called once per replica with its initialized model before the first step (before {@link #exchange}),
     * for strategies that need the model's layout, e.g. which gradient entries are BatchNorm running
     * statistics that must be averaged exactly.
     */
    default void attach(ComputationGraph graph) {
    }

    /** Rewrites {@code flatGradient} in place with the exchanged gradient. */
    void exchange(INDArray flatGradient, int epoch, long step);

    /**
     * Whether {@link #exchange} depends on where entries lie in the model's flat gradient (as the threshold
     * strategy's BatchNorm statistics by flat index, or overlapped buckets as ranges of the model's
     * gradient), so it must be given the model's whole gradient, never its trainable entries packed.
     */
    default boolean needsModelLayout() {
        return false;
    }

    /** Runs after the optimizer step {@code globalStep} (0-based, counted over the whole job). */
    default void afterStep(ComputationGraph graph, int epoch, long globalStep) {
    }

    /**
     * Makes every replica's model state identical again. Every replica calls it at the same point, before
     * evaluating or checkpointing (e.g. at the end of each epoch). Strategies that keep replicas identical
     * every step do nothing; local SGD ({@code average}) averages parameters and updater state here if
     * replicas trained locally since the last averaging round.
     */
    default void synchronize(ComputationGraph graph) {
    }

    /**
     * Whether every replica's parameters are bit-identical right now (after {@link #afterStep}), so a
     * cross-replica checksum must agree. False between the averaging rounds of local SGD.
     */
    default boolean replicasInSync() {
        return true;
    }

    /**
     * What this replica must carry across a checkpoint to continue exactly (e.g. the threshold
     * strategy's residual and τ), by name; empty for stateless strategies. Differs between replicas.
     */
    default java.util.Map<String, float[]> state() {
        return java.util.Map.of();
    }

    /** Restores what {@link #state()} returned, before the first step after a resume. */
    default void restore(java.util.Map<String, float[]> state) {
    }

    /** Strategy-specific figures of the last step for metrics.jsonl (e.g. compression ratio), may be empty. */
    default java.util.Map<String, Double> lastStepMetrics() {
        return java.util.Map.of();
    }

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
