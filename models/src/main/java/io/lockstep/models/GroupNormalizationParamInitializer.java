package io.lockstep.models;

import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Parameters of {@link GroupNormalization}: {@code gamma} then {@code beta}, each {@code [1, C]}. Stateless. */
final class GroupNormalizationParamInitializer implements ParamInitializer {
    static final GroupNormalizationParamInitializer INSTANCE = new GroupNormalizationParamInitializer();
    private static final List<String> KEYS = List.of(GroupNormalization.GAMMA, GroupNormalization.BETA);

    private GroupNormalizationParamInitializer() {
    }

    @Override
    public long numParams(NeuralNetConfiguration conf) {
        return numParams(conf.getLayer());
    }

    @Override
    public long numParams(Layer layer) {
        return 2 * ((GroupNormalization) layer).getNOut();
    }

    @Override
    public List<String> paramKeys(Layer layer) {
        return KEYS;
    }

    @Override
    public List<String> weightKeys(Layer layer) {
        return List.of();
    }

    @Override
    public List<String> biasKeys(Layer layer) {
        return KEYS;
    }

    @Override
    public boolean isWeightParam(Layer layer, String key) {
        return false;
    }

    @Override
    public boolean isBiasParam(Layer layer, String key) {
        return KEYS.contains(key);
    }

    @Override
    public Map<String, INDArray> init(NeuralNetConfiguration conf, INDArray paramsView, boolean initializeParams) {
        Map<String, INDArray> views = split(conf, paramsView);
        if (initializeParams) {
            views.get(GroupNormalization.GAMMA).assign(1);
            views.get(GroupNormalization.BETA).assign(0);
        }
        return views;
    }

    @Override
    public Map<String, INDArray> getGradientsFromFlattened(NeuralNetConfiguration conf, INDArray gradientView) {
        return split(conf, gradientView);
    }

    /** Views (never copies) of gamma and beta in the flattened array, so the updater sees every change. */
    private static Map<String, INDArray> split(NeuralNetConfiguration conf, INDArray flattened) {
        long channels = ((GroupNormalization) conf.getLayer()).getNOut();
        INDArray flat = flattened.reshape(flattened.length());
        Map<String, INDArray> views = new LinkedHashMap<>();
        views.put(GroupNormalization.GAMMA, flat.get(NDArrayIndex.interval(0, channels)).reshape(1, channels));
        views.put(GroupNormalization.BETA, flat.get(NDArrayIndex.interval(channels, 2 * channels)).reshape(1, channels));
        return views;
    }
}
