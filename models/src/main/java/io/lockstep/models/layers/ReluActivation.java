package io.lockstep.models.layers;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Collection;

/**
 * DL4J's activation layer configuration with a ReLU, instantiating {@link ReluActivationLayer}: the
 * same results, with this class's name in the JSON. The residual networks put one after every
 * BatchNorm and every residual sum; this layer makes each of them two passes over memory per
 * training step (forward, backward) where DL4J's takes six or seven.
 */
public class ReluActivation extends ActivationLayer {
    /** For JSON. */
    public ReluActivation() {
    }

    /** A plain ReLU layer (no cap, threshold or slope), with the vectorized backward pass. */
    public static ReluActivation relu() {
        ActivationLayer built = new ActivationLayer.Builder().activation(new VectorizedReLU()).build();
        ReluActivation layer = new ReluActivation();
        LayerConfigurations.copyFields(ActivationLayer.class, built, layer);
        return layer;
    }

    @Override
    public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners, int layerIndex,
                             INDArray layerParamsView, boolean initializeParams, DataType networkDataType) {
        return LayerConfigurations.wire(new ReluActivationLayer(conf, networkDataType),
                initializer(), conf, listeners, layerIndex, layerParamsView, initializeParams);
    }

    @Override
    protected boolean canEqual(Object other) {
        // Lombok's equals in DL4J's configuration would otherwise call a plain activation layer equal to this one.
        return other instanceof ReluActivation;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof ReluActivation && super.equals(other);
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + ReluActivation.class.hashCode();
    }
}
