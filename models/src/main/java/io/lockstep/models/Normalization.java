package io.lockstep.models;

import java.util.Locale;

/**
 * Which normalization layer an architecture puts after its convolutions. Architectures that have no
 * normalization in their definition (LeNet-5, AlexNet, plain VGG) ignore it. Synchronized BatchNorm
 * is not listed here: the worker swaps every BatchNorm of a built graph for its synchronized form, so
 * the architectures never depend on the distributed core.
 */
public enum Normalization {
    /** DL4J BatchNormalization, per-replica statistics. */
    BATCH,
    /** No normalization layers. */
    NONE;

    public static Normalization parse(String text) {
        return switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "batch" -> BATCH;
            case "none" -> NONE;
            default -> throw new IllegalArgumentException("unknown normalization '" + text + "'; use batch or none");
        };
    }

    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
