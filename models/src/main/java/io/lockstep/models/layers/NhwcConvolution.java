package io.lockstep.models.layers;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.LayerValidation;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Collection;

/**
 * DL4J's convolution layer configuration for NHWC activations, instantiating {@link NhwcConvolutionLayer}:
 * the same parameters, initialization and JSON (with this class's name), minus the NCHW copy of the
 * input that DL4J's layer makes and never uses when a OneDNN or cuDNN helper runs the convolution.
 */
public class NhwcConvolution extends ConvolutionLayer {
    /** For JSON. */
    public NhwcConvolution() {
    }

    private NhwcConvolution(ConvolutionLayer.Builder builder) {
        super(builder);
    }

    /** The NHWC layer of {@code builder}, validated as DL4J's {@code build()} validates it. */
    public static NhwcConvolution of(ConvolutionLayer.Builder builder) {
        builder.build();
        return new NhwcConvolution(builder);
    }

    @Override
    public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners, int layerIndex,
                             INDArray layerParamsView, boolean initializeParams, DataType networkDataType) {
        LayerValidation.assertNInNOutSet("ConvolutionLayer", getLayerName(), layerIndex, getNIn(), getNOut());
        return LayerConfigurations.wire(new NhwcConvolutionLayer(conf, networkDataType),
                initializer(), conf, listeners, layerIndex, layerParamsView, initializeParams);
    }

    @Override
    protected boolean canEqual(Object other) {
        // Lombok's equals in DL4J's configuration would otherwise call a plain convolution equal to this one.
        return other instanceof NhwcConvolution;
    }
}
