package io.lockstep.models;

import io.lockstep.models.layers.LayerConfigurations;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Collection;
import java.util.Objects;

/**
 * Group normalization (Wu and He 2018) of NCHW activations, as PyTorch's
 * {@code nn.GroupNorm(groups, C, eps, affine=True)} computes it: per example, the C channels are
 * split into {@code groups} consecutive groups; each group is normalized over its channels and all
 * pixels with its own mean and biased variance, {@code (x - mean) / sqrt(var + eps)}; then every
 * channel is scaled by {@code gamma} and shifted by {@code beta}. No running statistics: training and
 * inference compute the same thing, and no replica needs another's data. Special cases: 1 group is
 * LayerNorm over (C, H, W) per example with a per-channel affine ({@code nn.GroupNorm(1, C)});
 * C groups is InstanceNorm ({@code nn.InstanceNorm2d(C, affine=True)}, which also keeps no running
 * statistics by default).
 *
 * <p>Parameters {@code gamma} (starts at 1) and {@code beta} (starts at 0), each of shape
 * {@code [1, C]} like BatchNorm's: PyTorch's {@code weight} and {@code bias} of shape {@code [C]}.
 * Both are "bias" parameters for DL4J, so weight decay (applied to weights only) leaves them alone,
 * as it does BatchNorm's gamma and beta. The layer is {@link GroupNormalizationLayer}.
 *
 * <p>A bean-style DL4J layer configuration (JSON round trip through its fields); not thread-safe
 * while being configured.
 */
public class GroupNormalization extends FeedForwardLayer {
    public static final String GAMMA = "gamma";
    public static final String BETA = "beta";

    private int groups;
    private double eps;

    /** For JSON deserialization. */
    public GroupNormalization() {
    }

    /**
     * @param groups number of groups; must divide the channel count (checked when the input type is known)
     * @param eps    added to the variance, PyTorch's default is 1e-5
     */
    public GroupNormalization(int groups, double eps) {
        if (groups < 1) {
            throw new IllegalArgumentException("GroupNorm needs at least 1 group, got " + groups);
        }
        if (!(eps > 0)) {
            throw new IllegalArgumentException("GroupNorm eps must be positive, got " + eps);
        }
        this.groups = groups;
        this.eps = eps;
    }

    public int getGroups() {
        return groups;
    }

    public double getEps() {
        return eps;
    }

    @Override
    public org.deeplearning4j.nn.api.Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners,
                                                       int layerIndex, INDArray layerParamsView, boolean initializeParams,
                                                       DataType networkDataType) {
        return LayerConfigurations.wire(new GroupNormalizationLayer(conf, networkDataType),
                initializer(), conf, listeners, layerIndex, layerParamsView, initializeParams);
    }

    @Override
    public ParamInitializer initializer() {
        return GroupNormalizationParamInitializer.INSTANCE;
    }

    @Override
    public void setNIn(InputType inputType, boolean override) {
        if (!(inputType instanceof InputType.InputTypeConvolutional c)) {
            throw new IllegalArgumentException("layer " + getLayerName() + ": GroupNorm normalizes NCHW activations, got "
                    + inputType);
        }
        if (nIn <= 0 || override) {
            nIn = c.getChannels();
            nOut = nIn;
        }
        if (nIn % groups != 0) {
            throw new IllegalArgumentException("layer " + getLayerName() + ": " + groups + " groups do not divide its "
                    + nIn + " channels; choose a group count that divides every normalized layer's channels");
        }
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        return inputType;
    }

    @Override
    public InputPreProcessor getPreProcessorForInputType(InputType inputType) {
        return null;
    }

    @Override
    public boolean isPretrainParam(String paramName) {
        return false;
    }

    @Override
    public LayerMemoryReport getMemoryReport(InputType inputType) {
        long params = 2 * nOut;
        long perExample = inputType.arrayElementsPerExample();
        return new LayerMemoryReport.Builder(getLayerName(), GroupNormalization.class, inputType, inputType)
                .standardMemory(params, params)
                .workingMemory(0, perExample, 0, 3 * perExample)
                .cacheMemory(0, 0)
                .build();
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof GroupNormalization other) || !other.canEqual(this) || !super.equals(o)) {
            return false;
        }
        return groups == other.groups && Double.compare(eps, other.eps) == 0;
    }

    @Override
    protected boolean canEqual(Object other) {
        return other instanceof GroupNormalization;
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), groups, eps);
    }

    @Override
    public String toString() {
        return "GroupNormalization(groups=" + groups + ", eps=" + eps + ", channels=" + nOut + ", name=" + getLayerName() + ")";
    }
}
