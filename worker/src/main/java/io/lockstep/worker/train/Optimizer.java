package io.lockstep.worker.train;

import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.learning.config.Sgd;

import java.util.Locale;

/** The optimizers a job can choose, as DL4J updaters. */
public enum Optimizer {
    /** Plain SGD. */
    SGD,
    /** SGD with Nesterov momentum 0.9 (the usual choice for ResNets). */
    NESTEROV,
    /** Adam with beta1 0.9, beta2 0.999, epsilon 1e-8. */
    ADAM;

    public static final double NESTEROV_MOMENTUM = 0.9;

    public IUpdater updater(double learningRate) {
        return switch (this) {
            case SGD -> new Sgd(learningRate);
            case NESTEROV -> new Nesterovs(learningRate, NESTEROV_MOMENTUM);
            case ADAM -> new Adam(learningRate);
        };
    }

    public static Optimizer parse(String text) {
        try {
            return valueOf(text.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown optimizer '" + text + "'; use sgd, nesterov or adam", e);
        }
    }

    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
