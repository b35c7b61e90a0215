package io.lockstep.models;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.nd4j.linalg.activations.Activation;

/**
 * VGG-11/13/16/19 (Simonyan and Zisserman 2015, configurations A, B, D, E) exactly as torchvision
 * defines them, with or without BatchNorm ({@code vgg16}, {@code vgg16_bn}): 3x3 convolutions with
 * bias and padding 1, 2x2 max-pools with stride 2, then fc 4096, ReLU, dropout 0.5, fc 4096, ReLU,
 * dropout 0.5, fc to the classes. The {@code _bn} variants put a BatchNorm between each
 * convolution and its ReLU and keep the convolution bias, as torchvision does; with
 * {@link Normalization#NONE} they are built without BatchNorm (identical to the plain variant).
 * The plain variants never have BatchNorm. Trainable parameters at 3x224x224 and 1000 classes match
 * torchvision exactly (vgg16 138,357,544; vgg16_bn 138,365,992).
 *
 * <p>Input sizes: a max-pool whose 2x2 window no longer fits the map (a side of 1 pixel) is left
 * out, so every input of at least 1x1 works: 3x32x32 keeps all five pools and ends with 512x1x1,
 * 1x28x28 drops the last one (28, 14, 7, 3, 1). torchvision then applies
 * {@code AdaptiveAvgPool2d((7, 7))}, which DL4J does not have: at 224x224 the map is already 7x7
 * (identity); a map whose sides are multiples of 7 is average-pooled over non-overlapping windows
 * (exactly what adaptive pooling computes then); any other map is flattened as it is and the first
 * dense layer is sized from it (512*1*1 -> 4096 at 32x32, so vgg19 has about 39M parameters there
 * instead of 143M).
 */
public final class Vgg implements Architecture {
    private static final int POOL = 0;
    private static final int[] A = {64, POOL, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL};
    private static final int[] B = {64, 64, POOL, 128, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL};
    private static final int[] D = {64, 64, POOL, 128, 128, POOL, 256, 256, 256, POOL, 512, 512, 512, POOL,
            512, 512, 512, POOL};
    private static final int[] E = {64, 64, POOL, 128, 128, POOL, 256, 256, 256, 256, POOL, 512, 512, 512, 512,
            POOL, 512, 512, 512, 512, POOL};

    private final int depth;
    private final boolean batchNorm;
    private final int[] layers;

    private Vgg(int depth, boolean batchNorm, int[] layers) {
        this.depth = depth;
        this.batchNorm = batchNorm;
        this.layers = layers;
    }

    static Vgg vgg11(boolean batchNorm) {
        return new Vgg(11, batchNorm, A);
    }

    static Vgg vgg13(boolean batchNorm) {
        return new Vgg(13, batchNorm, B);
    }

    static Vgg vgg16(boolean batchNorm) {
        return new Vgg(16, batchNorm, D);
    }

    static Vgg vgg19(boolean batchNorm) {
        return new Vgg(19, batchNorm, E);
    }

    @Override
    public String name() {
        return "vgg" + depth + (batchNorm ? "_bn" : "");
    }

    @Override
    public String description() {
        return "VGG-" + depth + (batchNorm ? " with BatchNorm" : "") + " (torchvision)";
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
        return vertex.equals(OUTPUT) ? "classifier.6" : Architecture.super.torchModule(vertex);
    }

    @Override
    public ComputationGraphConfiguration configuration(ModelOptions options) {
        NetworkBuilder b = new NetworkBuilder(this, options);
        boolean norm = batchNorm && b.normalized();
        Node x = b.input();
        int index = 0; // torchvision's module index in `features`, so vertex names map to its weights
        for (int filters : layers) {
            if (filters == POOL) {
                if (x.height() >= 2 && x.width() >= 2) {
                    x = b.maxPool("features_" + index, x, 2, 2, 0);
                }
                index++;
            } else if (norm) {
                x = b.conv("features_" + index, x, filters, 3, 1, 1, true, Activation.IDENTITY);
                x = b.norm("features_" + (index + 1), x);
                x = b.relu("features_" + (index + 2), x);
                index += 3;
            } else {
                x = b.conv("features_" + index, x, filters, 3, 1, 1, true, Activation.RELU);
                index += 2;
            }
        }
        x = b.adaptiveAvgPoolIfExact("avgpool", x, 7);
        x = b.dense("classifier_0", x, 4096, 0);
        x = b.dense("classifier_3", x, 4096, 0.5);
        return b.finish(x, 0.5);
    }
}
