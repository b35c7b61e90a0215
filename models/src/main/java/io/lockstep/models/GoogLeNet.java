package io.lockstep.models;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;

/**
 * GoogLeNet (Szegedy et al. 2015, "Going deeper with convolutions") exactly as torchvision's
 * {@code googlenet(aux_logits=False)} defines it, so that its weights import one to one: every
 * convolution is a {@code BasicConv2d} (no bias, BatchNorm eps 1e-3, ReLU); stem conv 64@7x7/2,
 * max-pool 3/2, conv 64@1x1, conv 192@3x3, max-pool 3/2; Inception modules 3a, 3b, max-pool 3/2,
 * 4a-4e, max-pool 2/2, 5a, 5b; global average pooling; dropout 0.2; fc to the classes. All max-pools
 * round up ({@code ceil_mode=True}). Each Inception module concatenates four branches: 1x1; 1x1 then
 * 3x3; 1x1 then <b>3x3</b> (torchvision's "5x5" branch, kept at 3x3 to match its published weights);
 * 3x3 max-pool (stride 1, pad 1) then 1x1. 6,624,904 trainable parameters at 3x224x224 and 1000
 * classes. The auxiliary classifiers of the paper are left out, as torchvision leaves them out of
 * its default model.
 *
 * <p>Vertex names are torchvision's module paths with dots replaced by underscores
 * ({@code inception4a.branch2.1.conv} is {@code inception4a_branch2_1_conv}; its BatchNorm
 * {@code inception4a_branch2_1_bn}); the concatenation of a module is the vertex named after the
 * module ({@code inception4a}); {@code fc} is {@link Architecture#OUTPUT}.
 *
 * <p>Input sizes: the layout is the same for every input; a ceil-mode pool on a 1x1 map is the
 * identity, so every input of at least 1x1 works (3x32x32 reaches the Inception-5 modules as 1x1).
 * With {@link Normalization#NONE} the convolutions get a bias instead of BatchNorm.
 */
public final class GoogLeNet implements Architecture {
    /** Per Inception module: ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5 (a 3x3 here), pool_proj. */
    private static final int[][] MODULES = {
            {64, 96, 128, 16, 32, 32},
            {128, 128, 192, 32, 96, 64},
            {192, 96, 208, 16, 48, 64},
            {160, 112, 224, 24, 64, 64},
            {128, 128, 256, 24, 64, 64},
            {112, 144, 288, 32, 64, 64},
            {256, 160, 320, 32, 128, 128},
            {256, 160, 320, 32, 128, 128},
            {384, 192, 384, 48, 128, 128}};
    private static final String[] NAMES = {"inception3a", "inception3b", "inception4a", "inception4b", "inception4c",
            "inception4d", "inception4e", "inception5a", "inception5b"};

    GoogLeNet() {
    }

    @Override
    public String name() {
        return "googlenet";
    }

    @Override
    public String description() {
        return "GoogLeNet / Inception-v1 (torchvision, BatchNorm, no auxiliary classifiers)";
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
    public ComputationGraphConfiguration configuration(ModelOptions options) {
        NetworkBuilder b = new NetworkBuilder(this, options);
        Node x = ConvBlocks.basicConv(b, "conv1", b.input(), 64, 7, 2, 3);
        x = b.maxPoolCeil("maxpool1", x, 3, 2, 0);
        x = ConvBlocks.basicConv(b, "conv2", x, 64, 1, 1, 0);
        x = ConvBlocks.basicConv(b, "conv3", x, 192, 3, 1, 1);
        x = b.maxPoolCeil("maxpool2", x, 3, 2, 0);
        for (int i = 0; i < MODULES.length; i++) {
            x = inception(b, NAMES[i], x, MODULES[i]);
            if (NAMES[i].equals("inception3b")) {
                x = b.maxPoolCeil("maxpool3", x, 3, 2, 0);
            } else if (NAMES[i].equals("inception4e")) {
                x = b.maxPoolCeil("maxpool4", x, 2, 2, 0);
            }
        }
        x = b.globalAvgPool("avgpool", x);
        return b.finish(x, 0.2);
    }

    private static Node inception(NetworkBuilder b, String name, Node in, int[] c) {
        Node branch1 = ConvBlocks.basicConv(b, name + "_branch1", in, c[0], 1, 1, 0);
        Node branch2 = ConvBlocks.basicConv(b, name + "_branch2_0", in, c[1], 1, 1, 0);
        branch2 = ConvBlocks.basicConv(b, name + "_branch2_1", branch2, c[2], 3, 1, 1);
        Node branch3 = ConvBlocks.basicConv(b, name + "_branch3_0", in, c[3], 1, 1, 0);
        branch3 = ConvBlocks.basicConv(b, name + "_branch3_1", branch3, c[4], 3, 1, 1);
        Node branch4 = b.maxPoolCeil(name + "_branch4_0", in, 3, 1, 1);
        branch4 = ConvBlocks.basicConv(b, name + "_branch4_1", branch4, c[5], 1, 1, 0);
        return b.concat(name, branch1, branch2, branch3, branch4);
    }

    /** torchvision's names; only the classifier differs from the vertex name ({@code fc}). */
    @Override
    public String torchModule(String vertex) {
        return vertex.equals(OUTPUT) ? "fc" : Architecture.super.torchModule(vertex);
    }
}
