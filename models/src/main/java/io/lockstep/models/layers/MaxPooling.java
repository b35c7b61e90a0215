package io.lockstep.models.layers;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Collection;

/**
 * DL4J's max-pooling configuration ({@link SubsamplingLayer} with {@link PoolingType#MAX}), instantiating
 * {@link MaxPoolingLayer}: the same results bit for bit, with this class's name in the JSON. DL4J's
 * backward pass runs the pooling forward again to find each window's maximum; this layer remembers it
 * from the training forward pass and only scatters the gradient there.
 */
public class MaxPooling extends SubsamplingLayer {
    /** For JSON. */
    public MaxPooling() {
    }

    /**
     * A square max pool: {@code kernel x kernel} windows, the same stride and padding on both axes,
     * activations in {@code format}; the network's convolution mode applies, as to DL4J's layer.
     */
    public static MaxPooling of(int kernel, int stride, int padding, CNN2DFormat format) {
        SubsamplingLayer built = new SubsamplingLayer.Builder(PoolingType.MAX)
                .kernelSize(kernel, kernel)
                .stride(stride, stride)
                .padding(padding, padding)
                .dataFormat(format)
                .build();
        MaxPooling layer = new MaxPooling();
        LayerConfigurations.copyFields(SubsamplingLayer.class, built, layer);
        return layer;
    }

    @Override
    public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners, int layerIndex,
                             INDArray layerParamsView, boolean initializeParams, DataType networkDataType) {
        return LayerConfigurations.wire(new MaxPoolingLayer(conf, networkDataType),
                initializer(), conf, listeners, layerIndex, layerParamsView, initializeParams);
    }

    @Override
    protected boolean canEqual(Object other) {
        // Lombok's equals in DL4J's configuration would otherwise call a plain subsampling layer equal to this one.
        return other instanceof MaxPooling;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof MaxPooling && super.equals(other);
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + MaxPooling.class.hashCode();
    }
}
