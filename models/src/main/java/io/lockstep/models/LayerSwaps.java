package io.lockstep.models;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.updater.graph.ComputationGraphUpdater;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * Replacing the layer configurations of a graph by others with the same parameters (BatchNorm by its
 * synchronized form, a convolution by one on other kernels, an NHWC network by its NCHW build), and
 * re-initializing a built graph with the new configuration.
 *
 * <p>A rebuilt graph holds a copy of the old one's parameters and updater state; iteration and epoch
 * counts are carried over (DL4J's configuration clone drops them, and Adam's bias correction would
 * restart), and so are listeners and layers frozen after the graph was built. Inputs are never modified.
 * Stateless; call from the graph's thread.
 */
public final class LayerSwaps {
    private LayerSwaps() {
    }

    /** A copy of {@code conf} with each {@code LayerVertex}'s layer replaced by {@code replace} (which may return it unchanged). */
    public static ComputationGraphConfiguration replaceLayers(ComputationGraphConfiguration conf,
                                                              UnaryOperator<org.deeplearning4j.nn.conf.layers.Layer> replace) {
        Objects.requireNonNull(conf, "conf");
        ComputationGraphConfiguration copy = conf.clone();
        copy.setIterationCount(conf.getIterationCount());
        copy.setEpochCount(conf.getEpochCount());
        for (Map.Entry<String, GraphVertex> entry : copy.getVertices().entrySet()) {
            if (entry.getValue() instanceof LayerVertex vertex) {
                vertex.getLayerConf().setLayer(replace.apply(vertex.getLayerConf().getLayer()));
            }
        }
        return copy;
    }

    /** A new graph of configuration {@code conf} (the same parameters as {@code old}'s) holding {@code old}'s state. */
    public static ComputationGraph rebuild(ComputationGraph old, ComputationGraphConfiguration conf) {
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

    /** {@code graph}, if it is initialized (has parameters and vertices). */
    public static ComputationGraph requireInitialized(ComputationGraph graph) {
        Objects.requireNonNull(graph, "graph");
        if (graph.params() == null || graph.getVertices() == null) {
            throw new IllegalStateException("graph is not initialized: call init() before swapping its layers");
        }
        return graph;
    }

    /** Number of layers in {@code conf} whose configuration is a {@code type}. */
    public static int count(ComputationGraphConfiguration conf, Class<? extends org.deeplearning4j.nn.conf.layers.Layer> type) {
        int count = 0;
        for (GraphVertex vertex : conf.getVertices().values()) {
            if (vertex instanceof LayerVertex layerVertex && type.isInstance(layerVertex.getLayerConf().getLayer())) {
                count++;
            }
        }
        return count;
    }
}
