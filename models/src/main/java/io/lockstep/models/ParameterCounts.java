package io.lockstep.models;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;
import java.util.Set;

/**
 * Parameter counts the way torchvision and the papers report them.
 *
 * <p>DL4J stores BatchNorm's running mean and variance (keys {@code mean}, and {@code var} or
 * {@code log10stdev}) as parameters of the layer, updated by a no-op updater; PyTorch keeps them as
 * buffers. {@link #trainable} excludes them, {@link #total} is DL4J's {@code numParams()} with them.
 * The configuration overloads compute from the layer configurations ({@code ParamInitializer}
 * counts and keys) without allocating any parameter, so they are cheap even for vgg19 at 224x224.
 * A configuration must have been built with input types (every zoo configuration is) so that each
 * layer knows its {@code nIn}.
 *
 * <p>Stateless and thread-safe.
 */
public final class ParameterCounts {
    /** BatchNorm parameter keys that hold running statistics rather than trained values. */
    public static final Set<String> RUNNING_STATISTICS = Set.of(
            BatchNormalizationParamInitializer.GLOBAL_MEAN,
            BatchNormalizationParamInitializer.GLOBAL_VAR,
            BatchNormalizationParamInitializer.GLOBAL_LOG_STD);

    private ParameterCounts() {
    }

    /** Trainable parameters: everything except BatchNorm running statistics. No allocation. */
    public static long trainable(ComputationGraphConfiguration conf) {
        long count = 0;
        for (Map.Entry<String, GraphVertex> entry : conf.getVertices().entrySet()) {
            GraphVertex vertex = entry.getValue();
            if (!(vertex instanceof LayerVertex layerVertex)) {
                count += vertex.numParams(true);
                continue;
            }
            org.deeplearning4j.nn.conf.layers.Layer layer = layerVertex.getLayerConf().getLayer();
            ParamInitializer initializer = layer.initializer();
            long statistics = initializer.paramKeys(layer).stream().filter(RUNNING_STATISTICS::contains).count();
            long params = initializer.numParams(layer);
            if (statistics > 0) {
                if (!(layer instanceof BatchNormalization batchNorm)) {
                    throw new IllegalStateException("vertex " + entry.getKey() + " (" + layer.getClass().getName()
                            + ") has parameter keys " + initializer.paramKeys(layer)
                            + " that look like running statistics, but only BatchNormalization's sizes are known");
                }
                params -= statistics * batchNorm.getNOut(); // one value per channel per statistic
            }
            count += params;
        }
        return count;
    }

    /** All parameters DL4J allocates for the configuration, running statistics included. No allocation. */
    public static long total(ComputationGraphConfiguration conf) {
        long count = 0;
        for (GraphVertex vertex : conf.getVertices().values()) {
            count += vertex.numParams(true);
        }
        return count;
    }

    /** Trainable parameters of an initialized graph, counted from its parameter arrays. */
    public static long trainable(ComputationGraph graph) {
        long count = 0;
        for (Layer layer : graph.getLayers()) {
            boolean batchNorm = layer.conf().getLayer() instanceof BatchNormalization;
            for (Map.Entry<String, INDArray> param : layer.paramTable().entrySet()) {
                if (!(batchNorm && RUNNING_STATISTICS.contains(param.getKey()))) {
                    count += param.getValue().length();
                }
            }
        }
        return count;
    }

    /** All parameters of an initialized graph, running statistics included ({@code numParams()}). */
    public static long total(ComputationGraph graph) {
        return graph.numParams();
    }
}
