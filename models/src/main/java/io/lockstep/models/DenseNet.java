package io.lockstep.models;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * Densely connected networks (Huang et al. 2017, "Densely Connected Convolutional Networks"): inside
 * a dense block every layer receives the channel concatenation of the block's input and of all
 * earlier layers' outputs, and adds {@code growth} channels of its own. Every layer is the paper's
 * bottleneck ("B") form, BatchNorm, ReLU, 1x1 convolution to {@code 4 x growth} channels, BatchNorm,
 * ReLU, 3x3 convolution to {@code growth} channels; between blocks a transition (BatchNorm, ReLU,
 * 1x1 convolution halving the channels — compression 0.5, the "C" — and 2x2 average pool); after the
 * last block BatchNorm, ReLU, global average pooling and fc to the classes. Convolutions have no bias.
 *
 * <p><b>ImageNet models</b> ({@code densenet121/161/169/201}) exactly as torchvision defines them:
 * stem 7x7/2 convolution with {@code 2 x growth} filters, BatchNorm, ReLU, 3x3/2 max-pool (pad 1),
 * four blocks. Trainable parameters at 3x224x224 and 1000 classes equal torchvision's: densenet121
 * 7,978,856, densenet161 28,681,000, densenet169 14,149,480, densenet201 20,013,928. Below
 * {@value #SMALL_INPUT} pixels the stem is a 3x3 stride-1 convolution without the max-pool (as
 * the ImageNet ResNets of the zoo do), so 3x32x32 reaches the four blocks at 32, 16, 8 and 4 pixels.
 *
 * <p><b>DenseNet-BC for small images</b> ({@code densenet_bc100}: the paper's L=100, k=12, 0.8M
 * parameters; {@code densenet_bc40}: L=40, k=12, small enough to train on a CPU): a 3x3 convolution
 * with {@code 2 x growth} filters straight into three blocks of {@code (L-4)/6} layers at 32, 16 and
 * 8 pixels (28, 14 and 7 for Fashion-MNIST).
 *
 * <p>A transition's average pool is left out where the map is a single pixel, so every input of at
 * least 1x1 works. With {@link Normalization#NONE} every BatchNorm is left out and the convolutions
 * get a bias instead.
 *
 * <p>Vertex names are torchvision's module paths with dots replaced by underscores
 * ({@code features.denseblock2.denselayer3.conv1} is {@code features_denseblock2_denselayer3_conv1},
 * {@code features.transition1.norm} is {@code features_transition1_norm}, {@code features.norm5} is
 * {@code features_norm5}); {@code classifier} is {@link Architecture#OUTPUT}. The running
 * concatenation after each dense layer is {@code <layer>_concat}, the functional ReLUs
 * {@code <module>_relu...}; neither has parameters.
 */
public final class DenseNet implements Architecture {
    /** Below this height or width the ImageNet models get a 3x3 stride-1 stem without max-pool. */
    public static final int SMALL_INPUT = 64;
    private static final int BOTTLENECK_WIDTH = 4;

    private final String name;
    private final int growth;
    private final int[] blocks;
    private final boolean imagenet;

    private DenseNet(String name, int growth, boolean imagenet, int... blocks) {
        this.name = name;
        this.growth = growth;
        this.imagenet = imagenet;
        this.blocks = blocks;
    }

    static DenseNet densenet121() {
        return new DenseNet("densenet121", 32, true, 6, 12, 24, 16);
    }

    static DenseNet densenet161() {
        return new DenseNet("densenet161", 48, true, 6, 12, 36, 24);
    }

    static DenseNet densenet169() {
        return new DenseNet("densenet169", 32, true, 6, 12, 32, 32);
    }

    static DenseNet densenet201() {
        return new DenseNet("densenet201", 32, true, 6, 12, 48, 32);
    }

    /** DenseNet-BC for CIFAR-sized images with {@code depth = 6n + 4} and growth 12. */
    static DenseNet densenetBc(int depth) {
        if ((depth - 4) % 6 != 0) {
            throw new IllegalArgumentException("DenseNet-BC depth must be 6n+4, got " + depth);
        }
        int n = (depth - 4) / 6;
        return new DenseNet("densenet_bc" + depth, 12, false, n, n, n);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String description() {
        if (imagenet) {
            return "DenseNet-" + name.substring("densenet".length()) + " (torchvision, growth " + growth
                    + "); 3x3 stem below " + SMALL_INPUT + " px";
        }
        return "DenseNet-BC (L=" + name.substring("densenet_bc".length()) + ", k=" + growth
                + ") for 28x28/32x32 images, 3 dense blocks";
    }

    @Override
    public InputShape defaultInput() {
        return imagenet ? new InputShape(3, 224, 224) : new InputShape(3, 32, 32);
    }

    @Override
    public int defaultClasses() {
        return imagenet ? 1000 : 10;
    }

    @Override
    public int minimumSize() {
        return 1;
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelOptions options) {
        NetworkBuilder b = new NetworkBuilder(this, options);
        InputShape in = options.input();
        boolean bias = !b.normalized();
        Node x;
        if (!imagenet) {
            x = b.conv("features_conv0", b.input(), 2 * growth, 3, 1, 1, bias, Activation.IDENTITY);
        } else if (in.height() < SMALL_INPUT || in.width() < SMALL_INPUT) {
            x = b.conv("features_conv0", b.input(), 2 * growth, 3, 1, 1, bias, Activation.IDENTITY);
            x = normRelu(b, "features_norm0", "features_relu0", x);
        } else {
            x = b.conv("features_conv0", b.input(), 2 * growth, 7, 2, 3, bias, Activation.IDENTITY);
            x = normRelu(b, "features_norm0", "features_relu0", x);
            x = b.maxPool("features_pool0", x, 3, 2, 1);
        }
        for (int block = 0; block < blocks.length; block++) {
            String blockName = "features_denseblock" + (block + 1);
            for (int layer = 1; layer <= blocks[block]; layer++) {
                String prefix = blockName + "_denselayer" + layer;
                Node y = normRelu(b, prefix + "_norm1", prefix + "_relu1", x);
                y = b.conv(prefix + "_conv1", y, BOTTLENECK_WIDTH * growth, 1, 1, 0, bias, Activation.IDENTITY);
                y = normRelu(b, prefix + "_norm2", prefix + "_relu2", y);
                y = b.conv(prefix + "_conv2", y, growth, 3, 1, 1, bias, Activation.IDENTITY);
                x = b.concat(prefix + "_concat", x, y);
            }
            if (block < blocks.length - 1) {
                String prefix = "features_transition" + (block + 1);
                x = normRelu(b, prefix + "_norm", prefix + "_relu", x);
                x = b.conv(prefix + "_conv", x, x.channels() / 2, 1, 1, 0, bias, Activation.IDENTITY);
                if (x.height() >= 2 && x.width() >= 2) {
                    x = b.avgPool(prefix + "_pool", x, 2, 2, 0);
                }
            }
        }
        x = normRelu(b, "features_norm5", "features_relu5", x);
        x = b.globalAvgPool("avgpool", x);
        return b.finish(x, 0);
    }

    /** torchvision's names; only the classifier differs from the vertex name ({@code classifier}). */
    @Override
    public String torchModule(String vertex) {
        return vertex.equals(OUTPUT) ? "classifier" : Architecture.super.torchModule(vertex);
    }

    /** BatchNorm then ReLU (pre-activation); the ReLU alone without normalization. */
    private static Node normRelu(NetworkBuilder b, String normName, String reluName, Node x) {
        if (b.normalized()) {
            x = b.norm(normName, x);
        }
        return b.relu(reluName, x);
    }
}
