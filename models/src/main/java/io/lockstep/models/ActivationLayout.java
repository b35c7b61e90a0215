package io.lockstep.models;

import java.util.Locale;

/**
 * Memory layout of the image activations between the layers of a convolutional network. Only the
 * activations change: parameters keep the same shapes and order in both layouts (convolution weights
 * stay {@code [out, in, kH, kW]}), so checkpoints and imported PyTorch weights load into either, and
 * the model's input stays NCHW images — an {@link #NHWC} network converts its input once, in the
 * layers that read it.
 *
 * <p>Why {@link #NHWC} exists: DL4J's OneDNN convolution helper describes its arrays to OneDNN in the
 * layer's layout and lets OneDNN choose its own; OneDNN's forward convolution on these CPUs chooses
 * NHWC, so with NCHW activations every forward call converts its input to NHWC and its output back.
 * Only architectures that say so ({@link Architecture#supportsLayout}) build NHWC, and only with
 * BatchNorm or no normalization.
 */
public enum ActivationLayout {
    /** Channels before rows and columns: DL4J's default and PyTorch's. */
    NCHW,
    /** Channels innermost. */
    NHWC;

    public static ActivationLayout parse(String text) {
        return switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "nchw" -> NCHW;
            case "nhwc" -> NHWC;
            default -> throw new IllegalArgumentException("unknown activation layout '" + text + "'; use nchw or nhwc");
        };
    }

    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
