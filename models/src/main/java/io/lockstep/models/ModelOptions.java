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
 */
public record ModelOptions(int numClasses, InputShape input, Normalization normalization, long seed,
                           IUpdater updater, double weightDecay) {

    public ModelOptions {
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(normalization, "normalization");
        Objects.requireNonNull(updater, "updater");
        if (numClasses < 2) {
            throw new IllegalArgumentException("numClasses must be at least 2, got " + numClasses);
        }
        if (weightDecay < 0 || !Double.isFinite(weightDecay)) {
            throw new IllegalArgumentException("weightDecay must be finite and >= 0, got " + weightDecay);
        }
    }

    /** Defaults: batch normalization, seed 42, SGD with learning rate 0.01, no weight decay. */
    public static ModelOptions of(int numClasses, InputShape input) {
        return new ModelOptions(numClasses, input, Normalization.BATCH, 42L, new Sgd(0.01), 0.0);
    }

    public ModelOptions withNormalization(Normalization n) {
        return new ModelOptions(numClasses, input, n, seed, updater, weightDecay);
    }

    public ModelOptions withSeed(long s) {
        return new ModelOptions(numClasses, input, normalization, s, updater, weightDecay);
    }

    public ModelOptions withUpdater(IUpdater u, double decay) {
        return new ModelOptions(numClasses, input, normalization, seed, u, decay);
    }
}
