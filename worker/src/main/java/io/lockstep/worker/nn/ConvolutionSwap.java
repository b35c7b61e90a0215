package io.lockstep.worker.nn;

import io.lockstep.models.LayerSwaps;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * Chooses the code that runs a graph's convolutions ({@link ConvolutionKernels}), in a configuration
 * or in a built graph, the way {@link BatchNormSwap} swaps BatchNorm: the layer of each eligible
 * {@code LayerVertex} is replaced ({@link DnnlConvolution#supports}), and a built graph is re-initialized
 * ({@link LayerSwaps}).
 *
 * <p>{@link ConvolutionKernels#DNNL} changes nothing where the direct path is not available (another
 * backend, OneDNN's natives missing): the graph keeps DL4J's layers and no OneDNN class is loaded.
 * When nothing changes, the input itself is returned; otherwise it is never modified. Stateless; call
 * from the graph's thread.
 */
public final class ConvolutionSwap {

    private ConvolutionSwap() {
    }

    /** {@code conf} (or a copy) whose convolutions run on {@code kernels}. */
    public static ComputationGraphConfiguration apply(ComputationGraphConfiguration conf, ConvolutionKernels kernels) {
        Objects.requireNonNull(conf, "conf");
        UnaryOperator<Layer> replace = replacement(conf, kernels);
        return changes(conf, replace) ? LayerSwaps.replaceLayers(conf, replace) : conf;
    }

    /** {@code graph}, or a new graph equal to it, whose convolutions run on {@code kernels}. */
    public static ComputationGraph apply(ComputationGraph graph, ConvolutionKernels kernels) {
        ComputationGraphConfiguration conf = LayerSwaps.requireInitialized(graph).getConfiguration();
        UnaryOperator<Layer> replace = replacement(conf, kernels);
        return changes(conf, replace) ? LayerSwaps.rebuild(graph, LayerSwaps.replaceLayers(conf, replace)) : graph;
    }

    /** Number of convolutions in {@code conf} configured to call OneDNN directly. */
    public static int countDnnl(ComputationGraphConfiguration conf) {
        return LayerSwaps.count(conf, DnnlConvolution.class);
    }

    private static UnaryOperator<Layer> replacement(ComputationGraphConfiguration conf, ConvolutionKernels kernels) {
        Objects.requireNonNull(kernels, "kernels");
        if (kernels == ConvolutionKernels.DL4J) {
            return layer -> layer instanceof DnnlConvolution ? ((DnnlConvolution) layer).toDl4j() : layer;
        }
        if (!DnnlConvolution.available()) {
            return UnaryOperator.identity();
        }
        return layer -> DnnlConvolution.supports(layer, conf.getDataType()) ? DnnlConvolution.from(
                (org.deeplearning4j.nn.conf.layers.ConvolutionLayer) layer) : layer;
    }

    private static boolean changes(ComputationGraphConfiguration conf, UnaryOperator<Layer> replace) {
        for (GraphVertex vertex : conf.getVertices().values()) {
            if (vertex instanceof LayerVertex) {
                Layer layer = ((LayerVertex) vertex).getLayerConf().getLayer();
                if (replace.apply(layer) != layer) {
                    return true;
                }
            }
        }
        return false;
    }
}
