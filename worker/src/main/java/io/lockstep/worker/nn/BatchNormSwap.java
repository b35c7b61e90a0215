package io.lockstep.worker.nn;

import io.lockstep.models.LayerSwaps;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;

/**
 * Swaps every BatchNorm of a graph between DL4J's form and the synchronized form
 * ({@link SyncBatchNormalization}), in a configuration or in a built graph.
 *
 * <p>The two forms have the same parameters, keys, layout and updaters, so a built graph is swapped by
 * replacing the layer of each BatchNorm and re-initializing ({@link LayerSwaps}: parameters, updater
 * state, iteration and epoch counts and listeners carried over). Collectives are not — attach one to
 * the result with {@link SyncBatchNorms#attach}. BatchNorms wrapped in a {@code FrozenLayer} configuration are left as
 * they are (they never train).
 *
 * <p>The input graph or configuration is never modified. Stateless; call from the graph's thread.
 */
public final class BatchNormSwap {

    private BatchNormSwap() {
    }

    /** A copy of {@code conf} whose plain BatchNorms are synchronized, with PyTorch's unbiased running variance. */
    public static ComputationGraphConfiguration toSync(ComputationGraphConfiguration conf) {
        return toSync(conf, true);
    }

    /**
     * A copy of {@code conf} whose plain BatchNorms are synchronized.
     *
     * @param unbiasedRunningVariance see {@link SyncBatchNormalization#isUnbiasedRunningVariance()};
     *                                already synchronized layers keep their own setting
     */
    public static ComputationGraphConfiguration toSync(ComputationGraphConfiguration conf, boolean unbiasedRunningVariance) {
        return LayerSwaps.replaceLayers(conf, layer -> layer instanceof BatchNormalization && !(layer instanceof SyncBatchNormalization)
                ? SyncBatchNormalization.from((BatchNormalization) layer, unbiasedRunningVariance) : layer);
    }

    /** A copy of {@code conf} whose synchronized BatchNorms are DL4J's plain BatchNorm. */
    public static ComputationGraphConfiguration toPlain(ComputationGraphConfiguration conf) {
        return LayerSwaps.replaceLayers(conf, layer -> layer instanceof SyncBatchNormalization ? ((SyncBatchNormalization) layer).toPlain() : layer);
    }

    /** {@link #toSync(ComputationGraph, boolean)} with PyTorch's unbiased running variance. */
    public static ComputationGraph toSync(ComputationGraph graph) {
        return toSync(graph, true);
    }

    /**
     * A new graph equal to {@code graph} (parameters, updater state, iteration/epoch counts, listeners)
     * whose plain BatchNorms are synchronized. No collective is attached.
     */
    public static ComputationGraph toSync(ComputationGraph graph, boolean unbiasedRunningVariance) {
        return LayerSwaps.rebuild(graph, toSync(LayerSwaps.requireInitialized(graph).getConfiguration(), unbiasedRunningVariance));
    }

    /**
     * A new graph equal to {@code graph} whose sync BatchNorms are DL4J's plain BatchNorm: the form to
     * export for tools without Lockstep's worker classes. Running statistics are kept as they are.
     */
    public static ComputationGraph toPlain(ComputationGraph graph) {
        return LayerSwaps.rebuild(graph, toPlain(LayerSwaps.requireInitialized(graph).getConfiguration()));
    }

    /** Number of synchronized BatchNorm layers in {@code conf}. */
    public static int countSync(ComputationGraphConfiguration conf) {
        return LayerSwaps.count(conf, SyncBatchNormalization.class);
    }
}
