package io.lockstep.models;

import java.util.Locale;

/**
 * Which normalization layer an architecture puts where its definition has BatchNorm. Architectures
 * that have no normalization in their definition (LeNet-5, SimpleCNN, AlexNet, plain VGG) ignore it.
 * Synchronized BatchNorm is not listed here: the worker swaps every BatchNorm of a built graph for
 * its synchronized form, so the architectures never depend on the distributed core.
 *
 * <p>{@link #GROUP}, {@link #LAYER} and {@link #INSTANCE} normalize each example on its own
 * ({@link GroupNormalization}): they keep no running statistics, compute the same in training and
 * inference, and need no communication between replicas. They have the same trainable parameters as
 * BatchNorm (a scale and a shift per channel), so parameter counts do not change.
 */
public enum Normalization {
    /** DL4J BatchNormalization, per-replica statistics (synchronized by the worker when asked). */
    BATCH,
    /** GroupNorm with {@link ModelOptions#normGroups()} groups ({@code nn.GroupNorm(G, C)}). */
    GROUP,
    /** LayerNorm over (C, H, W) of each example with a per-channel affine ({@code nn.GroupNorm(1, C)}). */
    LAYER,
    /** InstanceNorm: each channel of each example on its own ({@code nn.InstanceNorm2d(C, affine=True)}). */
    INSTANCE,
    /** No normalization layers. */
    NONE;

    public static Normalization parse(String text) {
        return switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "batch" -> BATCH;
            case "group" -> GROUP;
            case "layer" -> LAYER;
            case "instance" -> INSTANCE;
            case "none" -> NONE;
            default -> throw new IllegalArgumentException("unknown normalization '" + text
                    + "'; use batch, group, layer, instance or none");
        };
    }

    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
