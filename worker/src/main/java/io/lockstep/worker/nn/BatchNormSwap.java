package io.lockstep.worker.nn;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.updater.graph.ComputationGraphUpdater;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * Swaps every BatchNorm of a graph between DL4J's form and the synchronized form
 * ({@link SyncBatchNormalization}), in a configuration or in a built graph.
 *
 * <p>The two forms have the same parameters, keys, layout and updaters, so a built graph is swapped by
 * cloning its configuration, replacing the layer of each BatchNorm {@code LayerVertex}, and
 * initializing a new graph with a copy of the old parameters and updater state; iteration and epoch
 * counts are carried over (DL4J's configuration clone drops them, and Adam's bias correction would
 * restart). Listeners are carried over; collectives are not — attach one to the result with
 * {@link SyncBatchNorms#attach}. BatchNorms wrapped in a {@code FrozenLayer} configuration are left as
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
        return swap(conf, layer -> layer instanceof BatchNormalization && !(layer instanceof SyncBatchNormalization)
                ? SyncBatchNormalization.from((BatchNormalization) layer, unbiasedRunningVariance) : layer);
    }

    /** A copy of {@code conf} whose synchronized BatchNorms are DL4J's plain BatchNorm. */
    public static ComputationGraphConfiguration toPlain(ComputationGraphConfiguration conf) {
        return swap(conf, layer -> layer instanceof SyncBatchNormalization ? ((SyncBatchNormalization) layer).toPlain() : layer);
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
        return rebuild(graph, toSync(requireInitialized(graph).getConfiguration(), unbiasedRunningVariance));
    }

    /**
     * A new graph equal to {@code graph} whose sync BatchNorms are DL4J's plain BatchNorm: the form to
     * export for tools without Lockstep's worker classes. Running statistics are kept as they are.
     */
    public static ComputationGraph toPlain(ComputationGraph graph) {
        return rebuild(graph, toPlain(requireInitialized(graph).getConfiguration()));
    }

    /** Number of synchronized BatchNorm layers in {@code conf}. */
    public static int countSync(ComputationGraphConfiguration conf) {
        int count = 0;
        for (GraphVertex vertex : conf.getVertices().values()) {
            if (vertex instanceof LayerVertex
                    && ((LayerVertex) vertex).getLayerConf().getLayer() instanceof SyncBatchNormalization) {
                count++;
            }
        }
        return count;
    }

    static ComputationGraphConfiguration swap(ComputationGraphConfiguration conf,
                                                      UnaryOperator<org.deeplearning4j.nn.conf.layers.Layer> replace) {
        Objects.requireNonNull(conf, "conf");
        ComputationGraphConfiguration copy = conf.clone();
        copy.setIterationCount(conf.getIterationCount());
        copy.setEpochCount(conf.getEpochCount());
        for (Map.Entry<String, GraphVertex> entry : copy.getVertices().entrySet()) {
            if (entry.getValue() instanceof LayerVertex) {
                LayerVertex vertex = (LayerVertex) entry.getValue();
                org.deeplearning4j.nn.conf.layers.Layer layer = vertex.getLayerConf().getLayer();
                vertex.getLayerConf().setLayer(replace.apply(layer));
            }
        }
        return copy;
    }

    static ComputationGraph rebuild(ComputationGraph old, ComputationGraphConfiguration conf) {
        ComputationGraph fresh = new ComputationGraph(conf);
        fresh.init(old.params().dup(), false);
        ComputationGraphUpdater updater = old.getUpdater(false);
        INDArray state = updater == null ? null : updater.getStateViewArray();
        if (state != null) {
            fresh.getUpdater(true).setStateViewArray(state.dup());
        }
        if (old.getListeners() != null && !old.getListeners().isEmpty()) {
            fresh.setListeners(old.getListeners());
        }
        for (org.deeplearning4j.nn.graph.vertex.GraphVertex vertex : old.getVertices()) {
            Layer layer = vertex.hasLayer() ? vertex.getLayer() : null;
            if (layer instanceof FrozenLayer && !(fresh.getLayer(vertex.getVertexName()) instanceof FrozenLayer)) {
                fresh.getVertex(vertex.getVertexName()).setLayerAsFrozen();
            }
        }
        return fresh;
    }

    static ComputationGraph requireInitialized(ComputationGraph graph) {
        Objects.requireNonNull(graph, "graph");
        if (graph.params() == null || graph.getVertices() == null) {
            throw new IllegalStateException("graph is not initialized: call init() before swapping its BatchNorm layers");
        }
        return graph;
    }
}
