package io.lockstep.models;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;

/**
 * The CIFAR-10 residual networks of He et al., "Deep Residual Learning for Image Recognition"
 * (CVPR 2016), section 4.2: a 3x3 convolution with 16 filters, then three stages of {@code n} basic
 * blocks (two 3x3 convolutions each) with 16, 32 and 64 filters, stride 2 at the first block of
 * stages 2 and 3, global average pooling and a fully connected softmax layer; depth 6n+2
 * (resnet20/32/44/56/110 for n = 3/5/7/9/18). Convolutions have no bias and are followed by
 * BatchNorm (with {@link Normalization#NONE}: no BatchNorm, convolutions with bias).
 *
 * <p><b>Shortcuts: option A</b>, the paper's choice for CIFAR: identity everywhere, and where a
 * stage halves the map and doubles the channels, the shortcut takes every second pixel
 * ({@code x[:, :, ::2, ::2]}, a 1x1 max-pool with stride 2) and appends as many zero channels.
 * The zeros come from a {@code ScaleVertex(0)} of the subsampled input concatenated by a
 * {@code MergeVertex}: built-in vertices only, no parameters, serializable like any DL4J graph.
 * The parameter counts are therefore the paper's: resnet20 269,722 (0.27M) at 3x32x32 with 10
 * classes, resnet32 464,154, resnet44 658,586, resnet56 853,018, resnet110 1,727,962.
 *
 * <p>Input sizes: defined for 3x32x32 (CIFAR) and used as is for 1x28x28 (Fashion-MNIST: maps of
 * 28, 14 and 7 pixels in the three stages). Strided 3x3 convolutions with padding 1 never shrink a
 * map below 1x1, so every input of at least 1x1 works.
 */
public final class CifarResNet implements Architecture {
    private static final int[] FILTERS = {16, 32, 64};

    private final int blocksPerStage;

    private CifarResNet(int blocksPerStage) {
        this.blocksPerStage = blocksPerStage;
    }

    /** The network of depth {@code 6n+2}. */
    static CifarResNet withBlocksPerStage(int n) {
        return new CifarResNet(n);
    }

    int depth() {
        return 6 * blocksPerStage + 2;
    }

    @Override
    public String name() {
        return "resnet" + depth();
    }

    @Override
    public String description() {
        return "ResNet-" + depth() + " for CIFAR (He et al. 2016 sec. 4.2), " + blocksPerStage
                + " blocks x 16/32/64 filters, option-A shortcuts";
    }

    @Override
    public InputShape defaultInput() {
        return new InputShape(3, 32, 32);
    }

    @Override
    public int defaultClasses() {
        return 10;
    }

    @Override
    public int minimumSize() {
        return 1;
    }

    /** Every layer of the network (convolution, BatchNorm, pooling, ReLU, sums) runs NHWC as well. */
    @Override
    public boolean supportsLayout(ActivationLayout layout) {
        return true;
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelOptions options) {
        NetworkBuilder b = new NetworkBuilder(this, options);
        Node x = ConvBlocks.convNormRelu(b, "conv1", "bn1", "relu", b.input(), FILTERS[0], 3, 1, 1);
        for (int stage = 0; stage < FILTERS.length; stage++) {
            for (int block = 0; block < blocksPerStage; block++) {
                int stride = stage > 0 && block == 0 ? 2 : 1;
                x = basicBlock(b, "layer" + (stage + 1) + "_" + block, x, FILTERS[stage], stride);
            }
        }
        x = b.globalAvgPool("avgpool", x);
        return b.finish(x, 0);
    }

    private static Node basicBlock(NetworkBuilder b, String prefix, Node in, int planes, int stride) {
        Node x = ConvBlocks.convNormRelu(b, prefix + "_conv1", prefix + "_bn1", prefix + "_relu1", in, planes, 3, stride, 1);
        x = ConvBlocks.convNorm(b, prefix + "_conv2", prefix + "_bn2", x, planes, 3, 1, 1);
        Node shortcut = in;
        if (stride != 1 || in.channels() != planes) {
            if (stride != 2 || planes != 2 * in.channels()) {
                throw new IllegalStateException("option-A shortcut only halves the map and doubles the channels, got "
                        + in.shape() + " -> " + planes + " channels with stride " + stride);
            }
            shortcut = b.subsampleAndZeroPadChannels(prefix + "_shortcut", in);
        }
        return b.addRelu(prefix + "_relu", x, shortcut);
    }
}
