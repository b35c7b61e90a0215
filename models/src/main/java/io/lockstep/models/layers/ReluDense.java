package io.lockstep.models.layers;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.LayerValidation;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Collection;

/**
 * DL4J's dense layer configuration, instantiating {@link ReluDenseLayer}: the same parameters,
 * initialization and results, with this class's name in the JSON. Its backward pass takes the ReLU's
 * derivative from the forward output instead of running the layer's matrix product a second time,
 * as DL4J's dense layer does.
 */
public class ReluDense extends DenseLayer {
    /** For JSON. */
    public ReluDense() {
    }

    /** The layer {@code builder} describes, validated as DL4J's {@code build()} validates it. */
    public static ReluDense of(DenseLayer.Builder builder) {
        DenseLayer built = builder.build();
        ReluDense layer = new ReluDense();
        LayerConfigurations.copyFields(DenseLayer.class, built, layer);
        return layer;
    }

    @Override
    public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners, int layerIndex,
                             INDArray layerParamsView, boolean initializeParams, DataType networkDataType) {
        LayerValidation.assertNInNOutSet("DenseLayer", getLayerName(), layerIndex, getNIn(), getNOut());
        return LayerConfigurations.wire(new ReluDenseLayer(conf, networkDataType),
                initializer(), conf, listeners, layerIndex, layerParamsView, initializeParams);
    }

    @Override
    protected boolean canEqual(Object other) {
        // Lombok's equals in DL4J's configuration would otherwise call a plain dense layer equal to this one.
        return other instanceof ReluDense;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof ReluDense && super.equals(other);
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + ReluDense.class.hashCode();
    }
}
