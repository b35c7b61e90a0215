package io.lockstep.worker.data;

import java.io.Serial;
import java.io.Serializable;
import java.util.Arrays;

/**
 * Per-channel normalization {@code (x - mean[c]) / std[c]}, applied after pixels are scaled to
 * [0, 1]. Immutable, serializable (it travels in the decoder) and a plain JSON object
 * ({@code {"mean":[...],"std":[...]}}) so the lead can store it with the model: evaluation must use
 * the statistics the model was trained with, not ones recomputed from the evaluation data.
 *
 * @param mean per-channel mean of [0, 1]-scaled pixels
 * @param std  per-channel standard deviation, strictly positive
 */
public record Normalizer(float[] mean, float[] std) implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    public Normalizer {
        if (mean == null || std == null || mean.length == 0 || mean.length != std.length) {
            throw new IllegalArgumentException("normalization needs one mean and one std per channel, got "
                    + Arrays.toString(mean) + " and " + Arrays.toString(std));
        }
        for (int c = 0; c < std.length; c++) {
            if (!(std[c] > 0) || !Float.isFinite(std[c]) || !Float.isFinite(mean[c])) {
                throw new IllegalArgumentException("normalization channel " + c + ": mean " + mean[c] + ", std " + std[c]
                        + "; std must be positive and both finite (a constant-valued channel has std 0: use --normalize none)");
            }
        }
        mean = mean.clone();
        std = std.clone();
    }

    /** Leaves [0, 1]-scaled pixels unchanged. */
    public static Normalizer identity(int channels) {
        float[] zeros = new float[channels];
        float[] ones = new float[channels];
        Arrays.fill(ones, 1f);
        return new Normalizer(zeros, ones);
    }

    /**
     * Parses {@code m1,m2,m3/s1,s2,s3} (the explicit form of {@code --normalize}), for example
     * {@code 0.4914,0.4822,0.4465/0.2470,0.2435,0.2616}.
     */
    public static Normalizer parse(String text) {
        String[] halves = text.trim().split("/");
        if (halves.length != 2) {
            throw new IllegalArgumentException("--normalize: '" + text + "' is not none, auto or MEANS/STDS "
                    + "(for example 0.2860/0.3530 or 0.4914,0.4822,0.4465/0.2470,0.2435,0.2616)");
        }
        return new Normalizer(floats(halves[0], text), floats(halves[1], text));
    }

    private static float[] floats(String list, String whole) {
        String[] parts = list.split(",");
        float[] values = new float[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                values[i] = Float.parseFloat(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--normalize: '" + parts[i] + "' in '" + whole + "' is not a number", e);
            }
        }
        return values;
    }

    public int channels() {
        return mean.length;
    }

    public boolean leavesPixelsUnchanged() {
        for (int c = 0; c < mean.length; c++) {
            if (mean[c] != 0f || std[c] != 1f) {
                return false;
            }
        }
        return true;
    }

    /** The {@link #parse} form. */
    public String format() {
        StringBuilder s = new StringBuilder();
        for (int c = 0; c < mean.length; c++) {
            s.append(c == 0 ? "" : ",").append(mean[c]);
        }
        s.append('/');
        for (int c = 0; c < std.length; c++) {
            s.append(c == 0 ? "" : ",").append(std[c]);
        }
        return s.toString();
    }

    // The accessors hand out copies so the record stays immutable.
    @Override
    public float[] mean() {
        return mean.clone();
    }

    @Override
    public float[] std() {
        return std.clone();
    }

    float meanOf(int channel) {
        return mean[channel];
    }

    float stdOf(int channel) {
        return std[channel];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Normalizer other && Arrays.equals(mean, other.mean) && Arrays.equals(std, other.std);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(mean) + Arrays.hashCode(std);
    }

    @Override
    public String toString() {
        return "Normalizer[mean=" + Arrays.toString(mean) + ", std=" + Arrays.toString(std) + "]";
    }
}
