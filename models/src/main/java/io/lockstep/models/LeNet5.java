package io.lockstep.models;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * LeNet-5 as in the DL4J and Caffe MNIST examples: conv 20@5x5 (pad 2), ReLU, max-pool 2/2,
 * conv 50@5x5 (pad 2), ReLU, max-pool 2/2, dense 500 ReLU, dense to the classes with softmax.
 * For 1x28x28 and 10 classes: 20*25+20 + 50*20*25+50 + 2450*500+500 + 500*10+10 = 1,256,080
 * trainable parameters. No normalization regardless of {@link ModelOptions#normalization()}.
 *
 * <p>Input sizes: the layers are fixed; the dense layer's input follows the real feature map
 * (50 x H/4 x W/4). The two pooling windows need at least 4x4 pixels.
 */
public final class LeNet5 implements Architecture {

    LeNet5() {
    }

    @Override
    public String name() {
        return "lenet5";
    }

    @Override
    public String description() {
        return "LeNet-5 (conv20-pool-conv50-pool-fc500), for MNIST-sized images";
    }

    @Override
    public InputShape defaultInput() {
        return new InputShape(1, 28, 28);
    }

    @Override
    public int defaultClasses() {
        return 10;
    }

    @Override
    public int minimumSize() {
        return 4;
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelOptions options) {
        NetworkBuilder b = new NetworkBuilder(this, options);
        Node x = b.conv("conv1", b.input(), 20, 5, 1, 2, true, Activation.RELU);
        x = b.maxPool("pool1", x, 2, 2, 0);
        x = b.conv("conv2", x, 50, 5, 1, 2, true, Activation.RELU);
        x = b.maxPool("pool2", x, 2, 2, 0);
        x = b.dense("fc1", x, 500, 0);
        return b.finish(x, 0);
    }
}
