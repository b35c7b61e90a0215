package io.lockstep.models;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * AlexNet exactly as torchvision defines it ({@code torchvision.models.alexnet}, the one-GPU variant
 * of Krizhevsky 2014, without LRN): conv 64@11x11/4 pad 2, max-pool 3/2, conv 192@5x5 pad 2,
 * max-pool 3/2, conv 384, 256, 256 @3x3 pad 1, max-pool 3/2, then dropout 0.5, fc 4096, ReLU,
 * dropout 0.5, fc 4096, ReLU, fc to the classes. Convolutions have biases. 61,100,840 trainable
 * parameters for 3x224x224 and 1000 classes. No normalization regardless of the option.
 *
 * <p>Input sizes: torchvision ends the features with {@code AdaptiveAvgPool2d((6, 6))}, which DL4J
 * does not have. At 224x224 the feature map is already 6x6 (the pool is the identity); a map whose
 * sides are multiples of 6 is average-pooled over non-overlapping windows (exactly what adaptive
 * pooling computes then); any other map is flattened as it is and the first dense layer is sized
 * from it. On small inputs a 3x3 max-pool whose window no longer fits the map is left out (a
 * 3x32x32 input keeps two of the three pools and ends with 256x1x1). The 11x11 stem needs at least
 * 7x7 pixels (with its padding of 2).
 */
public final class AlexNet implements Architecture {
    private static final int POOL_KERNEL = 3;

    AlexNet() {
    }

    @Override
    public String name() {
        return "alexnet";
    }

    @Override
    public String description() {
        return "AlexNet (torchvision), 5 conv + 3 fc, dropout";
    }

    @Override
    public InputShape defaultInput() {
        return new InputShape(3, 224, 224);
    }

    @Override
    public int defaultClasses() {
        return 1000;
    }

    @Override
    public int minimumSize() {
        return 7;
    }

    @Override
    public String torchModule(String vertex) {
        return vertex.equals(OUTPUT) ? "classifier.6" : Architecture.super.torchModule(vertex);
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelOptions options) {
        NetworkBuilder b = new NetworkBuilder(this, options);
        // Vertex names follow torchvision's module indices (features.N, classifier.N).
        Node x = b.conv("features_0", b.input(), 64, 11, 4, 2, true, Activation.RELU);
        x = poolIfItFits(b, "features_2", x);
        x = b.conv("features_3", x, 192, 5, 1, 2, true, Activation.RELU);
        x = poolIfItFits(b, "features_5", x);
        x = b.conv("features_6", x, 384, 3, 1, 1, true, Activation.RELU);
        x = b.conv("features_8", x, 256, 3, 1, 1, true, Activation.RELU);
        x = b.conv("features_10", x, 256, 3, 1, 1, true, Activation.RELU);
        x = poolIfItFits(b, "features_12", x);
        x = b.adaptiveAvgPoolIfExact("avgpool", x, 6);
        x = b.dense("classifier_1", x, 4096, 0.5);
        x = b.dense("classifier_4", x, 4096, 0.5);
        return b.finish(x, 0);
    }

    private static Node poolIfItFits(NetworkBuilder b, String name, Node x) {
        if (x.height() < POOL_KERNEL || x.width() < POOL_KERNEL) {
            return x;
        }
        return b.maxPool(name, x, POOL_KERNEL, 2, 0);
    }
}
