package io.lockstep.models.layers;

import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.samediff.SameDiffLayer;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.shade.jackson.annotation.JsonProperty;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.learning.regularization.WeightDecay;

import java.util.Collection;
import java.util.List;

/**
 * Base of the transformer layers: they read and write token sequences as DL4J recurrent activations
 * {@code [minibatch, width, tokens]} (channels-first, {@link RNNFormat#NCW}), so that residual additions
 * are plain {@code ElementWiseVertex} additions. Parameters are stored in PyTorch's shapes, so imported
 * weights need no reshaping. Matrices are "weight" parameters (weight decay applies); vectors,
 * embeddings and normalization parameters are "bias" parameters (no weight decay), as in the
 * usual transformer recipes. Parameter keys contain no underscore: DL4J tools split
 * {@code vertex_key} names at the last one.
 *
 * <p>Configurations are serialized to JSON by DL4J: every size is a {@code @JsonProperty} field (DL4J's
 * mapper sees no other fields) and takes part in {@link #equals}. They hold no runtime state.
 */
public abstract class TokenLayer extends SameDiffLayer {
    /** Token width (the model's hidden size). */
    @JsonProperty
    protected int width;
    /** Tokens per example. */
    @JsonProperty
    protected int tokens;

    protected TokenLayer() {
    }

    protected TokenLayer(int width, int tokens, double weightDecay) {
        this.width = width;
        this.tokens = tokens;
        if (weightDecay > 0) {
            List<Regularization> decay = List.of(new WeightDecay(weightDecay, true));
            setRegularization(decay);
        }
    }

    public int width() {
        return width;
    }

    public int tokens() {
        return tokens;
    }

    /** The sizes that define the layer besides width and tokens, for equality. */
    protected Object[] sizes() {
        return new Object[0];
    }

    @Override
    public boolean equals(Object o) {
        return o != null && o.getClass() == getClass() && super.equals(o) && width == ((TokenLayer) o).width
                && tokens == ((TokenLayer) o).tokens && java.util.Arrays.equals(sizes(), ((TokenLayer) o).sizes());
    }

    @Override
    public int hashCode() {
        return 31 * (31 * super.hashCode() + width) + tokens;
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        return InputType.recurrent(width, tokens);
    }

    @Override
    public void setNIn(InputType inputType, boolean override) {
        if (!(inputType instanceof InputType.InputTypeRecurrent recurrent)
                || recurrent.getSize() != width || recurrent.getTimeSeriesLength() != tokens) {
            throw new IllegalStateException(getClass().getSimpleName() + " " + getLayerName() + " expects "
                    + tokens + " tokens of width " + width + ", got " + inputType);
        }
    }

    @Override
    public InputPreProcessor getPreProcessorForInputType(InputType inputType) {
        return null;
    }

    /**
     * The layer's forward and backward pass in plain ND4J ops (a new instance per layer instance). They
     * compute exactly what {@link #defineLayer} defines as a SameDiff graph; that definition is the
     * reference the kernels are tested against.
     */
    abstract TokenKernel kernel();

    /** As DL4J's own SameDiff layer configuration does, but run by {@link TokenLayerImpl}. */
    @Override
    public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners, int layerIndex,
                             INDArray layerParamsView, boolean initializeParams, DataType dataType) {
        return LayerConfigurations.wire(new TokenLayerImpl(conf, dataType),
                initializer(), conf, listeners, layerIndex, layerParamsView, initializeParams);
    }

    /** Xavier (Glorot) uniform for a PyTorch-shaped {@code [out, in]} matrix, as PyTorch's transformer layers use. */
    protected static void xavierUniform(INDArray matrix) {
        double limit = Math.sqrt(6.0 / (matrix.size(0) + matrix.size(1)));
        matrix.assign(Nd4j.rand(matrix.dataType(), matrix.shape()).muli(2 * limit).subi(limit));
    }
}
