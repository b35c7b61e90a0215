package io.lockstep.models;

import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;

import java.util.Objects;

/**
 * Everything a model configuration depends on besides its architecture. The optimizer lives here
 * because DL4J keeps the updater inside the network configuration.
 *
 * @param numClasses    number of output classes (at least 2)
 * @param input         input image shape
 * @param normalization normalization layers, for architectures that have them
 * @param seed          weight-initialization seed
 * @param updater       optimizer (learning rate included)
 * @param weightDecay   decoupled L2 weight decay coefficient applied to weights (not biases, not BatchNorm), 0 for none
 * @param normGroups    group count of {@link Normalization#GROUP}: a layer whose channel count it does not divide
 *                      uses the largest count below it that does (16 for 16 channels with the default 32)
 * @param layout        memory layout of the activations between layers ({@link ActivationLayout#NCHW} unless an
 *                      architecture that supports it is asked for {@link ActivationLayout#NHWC}); parameters are the
 *                      same in both
 */
public record ModelOptions(int numClasses, InputShape input, Normalization normalization, long seed,
                           IUpdater updater, double weightDecay, int normGroups, ActivationLayout layout) {

    /** GroupNorm's usual group count (Wu and He 2018). */
    public static final int DEFAULT_NORM_GROUPS = 32;

    public ModelOptions {
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(normalization, "normalization");
        Objects.requireNonNull(updater, "updater");
        Objects.requireNonNull(layout, "layout");
        if (numClasses < 2) {
            throw new IllegalArgumentException("numClasses must be at least 2, got " + numClasses);
        }
        if (weightDecay < 0 || !Double.isFinite(weightDecay)) {
            throw new IllegalArgumentException("weightDecay must be finite and >= 0, got " + weightDecay);
        }
        if (normGroups < 1) {
            throw new IllegalArgumentException("normGroups must be at least 1, got " + normGroups);
        }
    }

    /** NCHW activations. */
    public ModelOptions(int numClasses, InputShape input, Normalization normalization, long seed, IUpdater updater,
                        double weightDecay, int normGroups) {
        this(numClasses, input, normalization, seed, updater, weightDecay, normGroups, ActivationLayout.NCHW);
    }

    /** Options with {@link #DEFAULT_NORM_GROUPS} groups for {@link Normalization#GROUP} and NCHW activations. */
    public ModelOptions(int numClasses, InputShape input, Normalization normalization, long seed, IUpdater updater,
                        double weightDecay) {
        this(numClasses, input, normalization, seed, updater, weightDecay, DEFAULT_NORM_GROUPS);
    }

    /** Defaults: batch normalization, seed 42, SGD with learning rate 0.01, no weight decay. */
    public static ModelOptions of(int numClasses, InputShape input) {
        return new ModelOptions(numClasses, input, Normalization.BATCH, 42L, new Sgd(0.01), 0.0);
    }

    public ModelOptions withNormalization(Normalization n) {
        return new ModelOptions(numClasses, input, n, seed, updater, weightDecay, normGroups, layout);
    }

    public ModelOptions withNormGroups(int groups) {
        return new ModelOptions(numClasses, input, normalization, seed, updater, weightDecay, groups, layout);
    }

    public ModelOptions withSeed(long s) {
        return new ModelOptions(numClasses, input, normalization, s, updater, weightDecay, normGroups, layout);
    }

    public ModelOptions withUpdater(IUpdater u, double decay) {
        return new ModelOptions(numClasses, input, normalization, seed, u, decay, normGroups, layout);
    }

    public ModelOptions withLayout(ActivationLayout l) {
        return new ModelOptions(numClasses, input, normalization, seed, updater, weightDecay, normGroups, l);
    }
}
