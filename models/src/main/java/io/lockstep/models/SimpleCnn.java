package io.lockstep.models;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * The small network of the course's first worked example, for 3x64x64 images: conv 3->16 3x3 pad 1,
 * ReLU, max-pool 2; conv 16->32 3x3 pad 1, ReLU, max-pool 2; dense 32*16*16 -> 128, ReLU; dense
 * 128 -> classes. At 3x64x64 and 10 classes: 448 + 4,640 + 1,048,704 + 1,290 = 1,055,082 trainable
 * parameters. No normalization regardless of {@link ModelOptions#normalization()}.
 *
 * <p>Vertex names follow the PyTorch module of the course ({@code conv1}, {@code conv2}, {@code fc1};
 * its {@code fc2} is the zoo's {@link Architecture#OUTPUT} layer; its one {@code pool} module, used
 * twice, is {@code pool1} and {@code pool2} here).
 *
 * <p>Input sizes: the dense layer's input follows the real feature map (32 x H/4 x W/4, 32x7x7 for
 * 1x28x28); the two pools need at least 4x4 pixels.
 */
public final class SimpleCnn implements Architecture {

    SimpleCnn() {
    }

    @Override
    public String name() {
        return "simplecnn";
    }

    @Override
    public String description() {
        return "The course's SimpleCNN (conv16-pool-conv32-pool-fc128), for 3x64x64 images";
    }

    @Override
    public InputShape defaultInput() {
        return new InputShape(3, 64, 64);
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
        Node x = b.conv("conv1", b.input(), 16, 3, 1, 1, true, Activation.RELU);
        x = b.maxPool("pool1", x, 2, 2, 0);
        x = b.conv("conv2", x, 32, 3, 1, 1, true, Activation.RELU);
        x = b.maxPool("pool2", x, 2, 2, 0);
        x = b.dense("fc1", x, 128, 0);
        return b.finish(x, 0);
    }

    /** The course module's names; its last layer is {@code fc2}. */
    @Override
    public String torchModule(String vertex) {
        return vertex.equals(OUTPUT) ? "fc2" : Architecture.super.torchModule(vertex);
    }
}
