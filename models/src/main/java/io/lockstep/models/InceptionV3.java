package io.lockstep.models;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;

/**
 * Inception-v3 (Szegedy et al. 2016, "Rethinking the Inception Architecture") exactly as torchvision's
 * {@code inception_v3(aux_logits=True)} defines it, so that its weights import one to one: every
 * convolution a {@code BasicConv2d} (no bias, BatchNorm eps 1e-3, ReLU); the stem
 * {@code Conv2d_1a_3x3} ... {@code Conv2d_4a_3x3} with two 3x3/2 max-pools; Inception-A modules
 * {@code Mixed_5b/5c/5d}, the grid reduction {@code Mixed_6a}, Inception-C modules with factorized
 * 1x7/7x1 convolutions {@code Mixed_6b..6e}, the reduction {@code Mixed_7a}, Inception-E modules
 * {@code Mixed_7b/7c}; global average pooling, dropout 0.5, fc to the classes. The pooling branches
 * average with padding counted in the divisor, as {@code F.avg_pool2d}'s default. 27,161,264
 * trainable parameters at 3x299x299 and 1000 classes, the auxiliary classifier included.
 *
 * <p><b>Auxiliary classifier.</b> {@code AuxLogits} reads {@code Mixed_6e}: 5x5/3 average pool,
 * 1x1 conv 128, 5x5 conv 768, global average pool, fc to the classes. It is a second output layer
 * of the graph, {@value #AUX_OUTPUT}, listed after {@link Architecture#OUTPUT}; its cross-entropy
 * enters the training loss with weight {@value #AUX_LOSS_WEIGHT} (loss = main + 0.4 aux, as the
 * paper and torchvision's reference training scripts). Training therefore needs the labels once
 * per output ({@link TrainingBatches}); inference reads output 0 and ignores the auxiliary one.
 *
 * <p>Vertex names are torchvision's module paths with dots replaced by underscores
 * ({@code Mixed_6b.branch7x7_2.conv} is {@code Mixed_6b_branch7x7_2_conv}, its BatchNorm
 * {@code Mixed_6b_branch7x7_2_bn}; {@code AuxLogits.conv0.conv} is {@code AuxLogits_conv0_conv});
 * a module's concatenation is the vertex named after the module; {@code fc} is
 * {@link Architecture#OUTPUT} and {@code AuxLogits.fc} is {@value #AUX_OUTPUT}.
 *
 * <p>Input sizes: torchvision needs 299x299 for the auxiliary head (its 5x5 convolution must find a
 * 5x5 map) and 75x75 without it. Here the auxiliary head adapts instead: its average pool is left
 * out where the map is smaller than 5 pixels, and its 5x5 convolution is zero-padded just enough to
 * fit (the global pooling after it takes any size). Below {@value #SMALL_INPUT} pixels the stem keeps
 * the resolution (stride 1 and padding 1 in {@code Conv2d_1a_3x3}, padding 1 in {@code Conv2d_2a_3x3}
 * and {@code Conv2d_4a_3x3}, no first max-pool), so 3x32x32 reaches {@code Mixed_5b} at 15x15 and
 * {@code Mixed_7c} at 3x3; the smallest input is 15x15. Parameter counts do not change with the
 * input size. With {@link Normalization#NONE} the convolutions get a bias instead of BatchNorm.
 */
public final class InceptionV3 implements Architecture {
    /** Name of the auxiliary classifier's output layer (torchvision's {@code AuxLogits.fc}). */
    public static final String AUX_OUTPUT = "AuxLogits_fc";
    /** Weight of the auxiliary cross-entropy in the training loss. */
    public static final double AUX_LOSS_WEIGHT = 0.4;
    /** Below this height or width the stem keeps the resolution (torchvision's own minimum is 75). */
    public static final int SMALL_INPUT = 75;

    InceptionV3() {
    }

    @Override
    public String name() {
        return "inception_v3";
    }

    @Override
    public String description() {
        return "Inception-v3 (torchvision) with its auxiliary classifier (loss weight 0.4)";
    }

    @Override
    public InputShape defaultInput() {
        return new InputShape(3, 299, 299);
    }

    @Override
    public int defaultClasses() {
        return 1000;
    }

    @Override
    public int minimumSize() {
        return 15;
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelOptions options) {
        NetworkBuilder b = new NetworkBuilder(this, options);
        InputShape in = options.input();
        boolean small = in.height() < SMALL_INPUT || in.width() < SMALL_INPUT;
        Node x;
        if (small) {
            x = ConvBlocks.basicConv(b, "Conv2d_1a_3x3", b.input(), 32, 3, 1, 1);
            x = ConvBlocks.basicConv(b, "Conv2d_2a_3x3", x, 32, 3, 1, 1);
            x = ConvBlocks.basicConv(b, "Conv2d_2b_3x3", x, 64, 3, 1, 1);
            x = ConvBlocks.basicConv(b, "Conv2d_3b_1x1", x, 80, 1, 1, 0);
            x = ConvBlocks.basicConv(b, "Conv2d_4a_3x3", x, 192, 3, 1, 1);
        } else {
            x = ConvBlocks.basicConv(b, "Conv2d_1a_3x3", b.input(), 32, 3, 2, 0);
            x = ConvBlocks.basicConv(b, "Conv2d_2a_3x3", x, 32, 3, 1, 0);
            x = ConvBlocks.basicConv(b, "Conv2d_2b_3x3", x, 64, 3, 1, 1);
            x = b.maxPool("maxpool1", x, 3, 2, 0);
            x = ConvBlocks.basicConv(b, "Conv2d_3b_1x1", x, 80, 1, 1, 0);
            x = ConvBlocks.basicConv(b, "Conv2d_4a_3x3", x, 192, 3, 1, 0);
        }
        x = b.maxPool("maxpool2", x, 3, 2, 0);
        x = inceptionA(b, "Mixed_5b", x, 32);
        x = inceptionA(b, "Mixed_5c", x, 64);
        x = inceptionA(b, "Mixed_5d", x, 64);
        x = inceptionB(b, "Mixed_6a", x);
        x = inceptionC(b, "Mixed_6b", x, 128);
        x = inceptionC(b, "Mixed_6c", x, 160);
        x = inceptionC(b, "Mixed_6d", x, 160);
        x = inceptionC(b, "Mixed_6e", x, 192);
        auxLogits(b, x);
        x = inceptionD(b, "Mixed_7a", x);
        x = inceptionE(b, "Mixed_7b", x);
        x = inceptionE(b, "Mixed_7c", x);
        x = b.globalAvgPool("avgpool", x);
        return b.finish(x, 0.5);
    }

    private static Node inceptionA(NetworkBuilder b, String name, Node in, int poolFeatures) {
        Node branch1x1 = ConvBlocks.basicConv(b, name + "_branch1x1", in, 64, 1, 1, 0);
        Node branch5x5 = ConvBlocks.basicConv(b, name + "_branch5x5_1", in, 48, 1, 1, 0);
        branch5x5 = ConvBlocks.basicConv(b, name + "_branch5x5_2", branch5x5, 64, 5, 1, 2);
        Node dbl = ConvBlocks.basicConv(b, name + "_branch3x3dbl_1", in, 64, 1, 1, 0);
        dbl = ConvBlocks.basicConv(b, name + "_branch3x3dbl_2", dbl, 96, 3, 1, 1);
        dbl = ConvBlocks.basicConv(b, name + "_branch3x3dbl_3", dbl, 96, 3, 1, 1);
        Node pool = b.avgPool(name + "_branch_pool_avg", in, 3, 1, 1);
        pool = ConvBlocks.basicConv(b, name + "_branch_pool", pool, poolFeatures, 1, 1, 0);
        return b.concat(name, branch1x1, branch5x5, dbl, pool);
    }

    private static Node inceptionB(NetworkBuilder b, String name, Node in) {
        Node branch3x3 = ConvBlocks.basicConv(b, name + "_branch3x3", in, 384, 3, 2, 0);
        Node dbl = ConvBlocks.basicConv(b, name + "_branch3x3dbl_1", in, 64, 1, 1, 0);
        dbl = ConvBlocks.basicConv(b, name + "_branch3x3dbl_2", dbl, 96, 3, 1, 1);
        dbl = ConvBlocks.basicConv(b, name + "_branch3x3dbl_3", dbl, 96, 3, 2, 0);
        Node pool = b.maxPool(name + "_branch_pool", in, 3, 2, 0);
        return b.concat(name, branch3x3, dbl, pool);
    }

    private static Node inceptionC(NetworkBuilder b, String name, Node in, int c7) {
        Node branch1x1 = ConvBlocks.basicConv(b, name + "_branch1x1", in, 192, 1, 1, 0);
        Node b7 = ConvBlocks.basicConv(b, name + "_branch7x7_1", in, c7, 1, 1, 0);
        b7 = ConvBlocks.basicConv(b, name + "_branch7x7_2", b7, c7, 1, 7, 1, 0, 3);
        b7 = ConvBlocks.basicConv(b, name + "_branch7x7_3", b7, 192, 7, 1, 1, 3, 0);
        Node dbl = ConvBlocks.basicConv(b, name + "_branch7x7dbl_1", in, c7, 1, 1, 0);
        dbl = ConvBlocks.basicConv(b, name + "_branch7x7dbl_2", dbl, c7, 7, 1, 1, 3, 0);
        dbl = ConvBlocks.basicConv(b, name + "_branch7x7dbl_3", dbl, c7, 1, 7, 1, 0, 3);
        dbl = ConvBlocks.basicConv(b, name + "_branch7x7dbl_4", dbl, c7, 7, 1, 1, 3, 0);
        dbl = ConvBlocks.basicConv(b, name + "_branch7x7dbl_5", dbl, 192, 1, 7, 1, 0, 3);
        Node pool = b.avgPool(name + "_branch_pool_avg", in, 3, 1, 1);
        pool = ConvBlocks.basicConv(b, name + "_branch_pool", pool, 192, 1, 1, 0);
        return b.concat(name, branch1x1, b7, dbl, pool);
    }

    private static Node inceptionD(NetworkBuilder b, String name, Node in) {
        Node b3 = ConvBlocks.basicConv(b, name + "_branch3x3_1", in, 192, 1, 1, 0);
        b3 = ConvBlocks.basicConv(b, name + "_branch3x3_2", b3, 320, 3, 2, 0);
        Node b7 = ConvBlocks.basicConv(b, name + "_branch7x7x3_1", in, 192, 1, 1, 0);
        b7 = ConvBlocks.basicConv(b, name + "_branch7x7x3_2", b7, 192, 1, 7, 1, 0, 3);
        b7 = ConvBlocks.basicConv(b, name + "_branch7x7x3_3", b7, 192, 7, 1, 1, 3, 0);
        b7 = ConvBlocks.basicConv(b, name + "_branch7x7x3_4", b7, 192, 3, 2, 0);
        Node pool = b.maxPool(name + "_branch_pool", in, 3, 2, 0);
        return b.concat(name, b3, b7, pool);
    }

    private static Node inceptionE(NetworkBuilder b, String name, Node in) {
        Node branch1x1 = ConvBlocks.basicConv(b, name + "_branch1x1", in, 320, 1, 1, 0);
        Node b3 = ConvBlocks.basicConv(b, name + "_branch3x3_1", in, 384, 1, 1, 0);
        Node b3a = ConvBlocks.basicConv(b, name + "_branch3x3_2a", b3, 384, 1, 3, 1, 0, 1);
        Node b3b = ConvBlocks.basicConv(b, name + "_branch3x3_2b", b3, 384, 3, 1, 1, 1, 0);
        Node dbl = ConvBlocks.basicConv(b, name + "_branch3x3dbl_1", in, 448, 1, 1, 0);
        dbl = ConvBlocks.basicConv(b, name + "_branch3x3dbl_2", dbl, 384, 3, 1, 1);
        Node dbla = ConvBlocks.basicConv(b, name + "_branch3x3dbl_3a", dbl, 384, 1, 3, 1, 0, 1);
        Node dblb = ConvBlocks.basicConv(b, name + "_branch3x3dbl_3b", dbl, 384, 3, 1, 1, 1, 0);
        Node pool = b.avgPool(name + "_branch_pool_avg", in, 3, 1, 1);
        pool = ConvBlocks.basicConv(b, name + "_branch_pool", pool, 192, 1, 1, 0);
        // torch.cat([branch1x1, cat(2a, 2b), cat(3a, 3b), branch_pool]) is one concatenation in this order.
        return b.concat(name, branch1x1, b3a, b3b, dbla, dblb, pool);
    }

    /** torchvision's {@code InceptionAux}, adapted to maps smaller than 17x17 (see the class comment). */
    private static void auxLogits(NetworkBuilder b, Node in) {
        Node x = in;
        if (in.height() >= 5 && in.width() >= 5) {
            x = b.avgPool("AuxLogits_avgpool", in, 5, 3, 0);
        }
        x = ConvBlocks.basicConv(b, "AuxLogits_conv0", x, 128, 1, 1, 0);
        x = ConvBlocks.basicConv(b, "AuxLogits_conv1", x, 768, 5, 5, 1, fitPadding(x.height()), fitPadding(x.width()));
        x = b.globalAvgPool("AuxLogits_gap", x);
        b.auxiliaryOutput(AUX_OUTPUT, x, AUX_LOSS_WEIGHT);
    }

    /**
     * torchvision's names, which keep underscores inside module names: the vertex
     * {@code Mixed_6b_branch7x7_2_bn} is {@code Mixed_6b.branch7x7_2.bn}, {@code Conv2d_1a_3x3_conv} is
     * {@code Conv2d_1a_3x3.conv}, {@code AuxLogits_conv0_conv} is {@code AuxLogits.conv0.conv}; {@code fc}
     * and {@code AuxLogits.fc} are the two classifiers.
     */
    @Override
    public String torchModule(String vertex) {
        if (vertex.equals(OUTPUT)) {
            return "fc";
        }
        if (vertex.equals(AUX_OUTPUT)) {
            return "AuxLogits.fc";
        }
        int last = vertex.lastIndexOf('_');
        if (last < 0) {
            return vertex; // maxpool1, avgpool: no parameters
        }
        String path = vertex.substring(0, last);
        String leaf = vertex.substring(last + 1); // conv, bn, relu
        String module = path;
        String child = "";
        if (path.startsWith("Mixed_")) {
            int cut = path.indexOf('_', "Mixed_".length());
            if (cut > 0) {
                module = path.substring(0, cut);
                child = path.substring(cut + 1);
            }
        } else if (path.startsWith("AuxLogits_")) {
            module = "AuxLogits";
            child = path.substring("AuxLogits_".length());
        }
        return child.isEmpty() ? module + "." + leaf : module + "." + child + "." + leaf;
    }

    /** Padding that lets a 5-pixel window fit a side of {@code size} pixels (0 when it already fits). */
    private static int fitPadding(int size) {
        return Math.max(0, (5 - size + 1) / 2);
    }
}
