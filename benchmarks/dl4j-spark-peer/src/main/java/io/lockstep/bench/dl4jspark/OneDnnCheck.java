package io.lockstep.bench.dl4jspark;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.layers.LayerHelper;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/** Which implementation DL4J runs convolutions with in this JVM (the peer must get OneDNN, like Lockstep). */
final class OneDnnCheck {
    private OneDnnCheck() {
    }

    /** The simple name of the convolution layer's helper after a forward pass, or "none (slow built-in)". */
    static String convolutionHelper() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.FLOAT).list()
                .layer(new ConvolutionLayer.Builder(3, 3).nOut(2).activation(Activation.RELU).build())
                .setInputType(InputType.convolutional(4, 4, 1))
                .build();
        MultiLayerNetwork network = new MultiLayerNetwork(conf);
        network.init();
        try {
            network.output(Nd4j.ones(DataType.FLOAT, 1, 1, 4, 4));
            LayerHelper helper = network.getLayer(0).getHelper();
            return helper == null ? "none (slow built-in; is -Dorg.eclipse.deeplearning4j.helpers.disable=false set?)"
                    : helper.getClass().getSimpleName();
        } finally {
            network.close();
        }
    }
}
