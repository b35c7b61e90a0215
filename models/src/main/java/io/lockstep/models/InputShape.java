package io.lockstep.models;

/**
 * Shape of one input image, channels first (NCHW without the batch dimension).
 * Immutable; validated on construction.
 */
public record InputShape(int channels, int height, int width) {

    public InputShape {
        if (channels <= 0 || height <= 0 || width <= 0) {
            throw new IllegalArgumentException("input shape must be positive in every dimension, got "
                    + channels + "x" + height + "x" + width);
        }
    }

    /** Parses {@code CxHxW}, for example {@code 1x28x28} or {@code 3x224x224}. */
    public static InputShape parse(String text) {
        String[] parts = text.trim().toLowerCase(java.util.Locale.ROOT).split("x");
        if (parts.length != 3) {
            throw new IllegalArgumentException("input shape '" + text + "' is not CxHxW, for example 1x28x28");
        }
        try {
            return new InputShape(Integer.parseInt(parts[0]), Integer.parseInt(parts[1]), Integer.parseInt(parts[2]));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("input shape '" + text + "' is not CxHxW, for example 1x28x28", e);
        }
    }

    public long pixels() {
        return (long) channels * height * width;
    }

    @Override
    public String toString() {
        return channels + "x" + height + "x" + width;
    }
}
