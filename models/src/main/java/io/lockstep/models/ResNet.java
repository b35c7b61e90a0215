package io.lockstep.models;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * ResNet-18/34 (basic blocks) and ResNet-50/101/152 (bottleneck blocks) for ImageNet, exactly as
 * torchvision defines them: 7x7/2 stem convolution with 64 filters, BatchNorm, ReLU, 3x3/2
 * max-pool (pad 1); four stages of 64/128/256/512 planes with stride 2 at the start of stages 2-4;
 * global average pooling; fc to the classes. Bottlenecks are torchvision's "v1.5": the stride sits
 * on the 3x3 convolution. Projection shortcuts (1x1 convolution + BatchNorm) wherever the shape
 * changes. Convolutions have no bias, BatchNorm has gamma and beta: at 3x224x224 and 1000 classes
 * the trainable parameters equal torchvision's (resnet50 25,557,032).
 *
 * <p>{@link Normalization#NONE} leaves every BatchNorm out and gives the convolutions a bias
 * instead (the counts then differ from torchvision's).
 *
 * <p>Input sizes: inputs smaller than {@value #SMALL_INPUT} pixels on either side get the
 * CIFAR-style stem instead (3x3 stride-1 convolution with 64 filters, BatchNorm, ReLU, no max-pool),
 * so a 3x32x32 image reaches the last stage as a 4x4 map (1x28x28: 4x4 too) rather than collapsing.
 * Strided 3x3 convolutions with padding 1 never shrink a map below 1x1, so every input of at least
 * 1x1 works.
 */
public final class ResNet implements Architecture {
    /** Below this height or width the stem is a 3x3 stride-1 convolution without max-pool. */
    public static final int SMALL_INPUT = 64;

    private final int depth;
    private final boolean bottleneck;
    private final int[] blocks;

    private ResNet(int depth, boolean bottleneck, int... blocks) {
        this.depth = depth;
        this.bottleneck = bottleneck;
        this.blocks = blocks;
    }

    static ResNet resnet18() {
        return new ResNet(18, false, 2, 2, 2, 2);
    }

    static ResNet resnet34() {
        return new ResNet(34, false, 3, 4, 6, 3);
    }

    static ResNet resnet50() {
        return new ResNet(50, true, 3, 4, 6, 3);
    }

    static ResNet resnet101() {
        return new ResNet(101, true, 3, 4, 23, 3);
    }

    static ResNet resnet152() {
        return new ResNet(152, true, 3, 8, 36, 3);
    }

    @Override
    public String name() {
        return "resnet" + depth;
    }

    @Override
    public String description() {
        return "ResNet-" + depth + " for ImageNet (torchvision" + (bottleneck ? " v1.5, bottleneck" : ", basic")
                + " blocks); 3x3 stem below " + SMALL_INPUT + " px";
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
        return 1;
    }

    @Override
    public String torchModule(String vertex) {
        return vertex.equals(OUTPUT) ? "fc" : Architecture.super.torchModule(vertex);
    }

    /** Every layer of the network (convolution, BatchNorm, pooling, ReLU, sums) runs NHWC as well. */
    @Override
    public boolean supportsLayout(ActivationLayout layout) {
        return true;
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelOptions options) {
        NetworkBuilder b = new NetworkBuilder(this, options);
        InputShape in = options.input();
        // Vertex names follow torchvision's module names (layer2.0.conv1 -> layer2_0_conv1).
        Node x;
        if (in.height() < SMALL_INPUT || in.width() < SMALL_INPUT) {
            x = ConvBlocks.convNormRelu(b, "conv1", "bn1", "relu", b.input(), 64, 3, 1, 1);
        } else {
            x = ConvBlocks.convNormRelu(b, "conv1", "bn1", "relu", b.input(), 64, 7, 2, 3);
            x = b.maxPool("maxpool", x, 3, 2, 1);
        }
        for (int stage = 0; stage < blocks.length; stage++) {
            int planes = 64 << stage;
            for (int block = 0; block < blocks[stage]; block++) {
                int stride = stage > 0 && block == 0 ? 2 : 1;
                String prefix = "layer" + (stage + 1) + "_" + block;
                x = bottleneck ? bottleneckBlock(b, prefix, x, planes, stride) : basicBlock(b, prefix, x, planes, stride);
            }
        }
        x = b.globalAvgPool("avgpool", x);
        return b.finish(x, 0);
    }

    private static Node basicBlock(NetworkBuilder b, String prefix, Node in, int planes, int stride) {
        Node x = ConvBlocks.convNormRelu(b, prefix + "_conv1", prefix + "_bn1", prefix + "_relu1", in, planes, 3, stride, 1);
        x = ConvBlocks.convNorm(b, prefix + "_conv2", prefix + "_bn2", x, planes, 3, 1, 1);
        Node shortcut = projectionIfNeeded(b, prefix, in, planes, stride);
        return b.addRelu(prefix + "_relu", x, shortcut);
    }

    private static Node bottleneckBlock(NetworkBuilder b, String prefix, Node in, int planes, int stride) {
        int expanded = planes * 4;
        Node x = ConvBlocks.convNormRelu(b, prefix + "_conv1", prefix + "_bn1", prefix + "_relu1", in, planes, 1, 1, 0);
        x = ConvBlocks.convNormRelu(b, prefix + "_conv2", prefix + "_bn2", prefix + "_relu2", x, planes, 3, stride, 1);
        x = ConvBlocks.convNorm(b, prefix + "_conv3", prefix + "_bn3", x, expanded, 1, 1, 0);
        Node shortcut = projectionIfNeeded(b, prefix, in, expanded, stride);
        return b.addRelu(prefix + "_relu", x, shortcut);
    }

    private static Node projectionIfNeeded(NetworkBuilder b, String prefix, Node in, int channels, int stride) {
        if (stride == 1 && in.channels() == channels) {
            return in;
        }
        return ConvBlocks.convNorm(b, prefix + "_downsample_0", prefix + "_downsample_1", in, channels, 1, stride, 0);
    }
}
