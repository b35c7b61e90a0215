package io.lockstep.worker.data;

/**
 * Accumulates per-channel mean and standard deviation of decoded images (planar {@code C x H x W}
 * floats), for {@code --normalize auto}. Sums are kept in double and shifted by the first image's
 * channel means, so that {@code E[x^2] - E[x]^2} does not cancel. Single-threaded; partial statistics
 * computed on executors travel to the driver and are combined with {@link #merge}.
 */
public final class ChannelStatistics implements java.io.Serializable {
    @java.io.Serial
    private static final long serialVersionUID = 1L;

    private final int channels;
    private final double[] shift;
    private final double[] sum;
    private final double[] sumSquares;
    private long pixelsPerChannel;
    private boolean shifted;

    public ChannelStatistics(int channels) {
        if (channels <= 0) {
            throw new IllegalArgumentException("channels must be positive, got " + channels);
        }
        this.channels = channels;
        this.shift = new double[channels];
        this.sum = new double[channels];
        this.sumSquares = new double[channels];
    }

    /** Adds one image of {@code channels * planeSize} floats starting at {@code offset}. */
    public void add(float[] image, int offset, int planeSize) {
        if (!shifted) {
            for (int c = 0; c < channels; c++) {
                double s = 0;
                for (int i = 0; i < planeSize; i++) {
                    s += image[offset + c * planeSize + i];
                }
                shift[c] = s / planeSize;
            }
            shifted = true;
        }
        for (int c = 0; c < channels; c++) {
            double k = shift[c];
            double s = 0;
            double s2 = 0;
            int base = offset + c * planeSize;
            for (int i = 0; i < planeSize; i++) {
                double d = image[base + i] - k;
                s += d;
                s2 += d * d;
            }
            sum[c] += s;
            sumSquares[c] += s2;
        }
        pixelsPerChannel += planeSize;
    }

    /** Adds everything {@code other} (same channel count) has seen, moving its sums onto this shift. */
    public void merge(ChannelStatistics other) {
        if (other.channels != channels) {
            throw new IllegalArgumentException("cannot merge statistics of " + other.channels + " channels into " + channels);
        }
        if (other.pixelsPerChannel == 0) {
            return;
        }
        if (!shifted) {
            System.arraycopy(other.shift, 0, shift, 0, channels);
            shifted = true;
        }
        double n = other.pixelsPerChannel;
        for (int c = 0; c < channels; c++) {
            double d = other.shift[c] - shift[c];
            sum[c] += other.sum[c] + n * d;
            sumSquares[c] += other.sumSquares[c] + 2 * d * other.sum[c] + n * d * d;
        }
        pixelsPerChannel += other.pixelsPerChannel;
    }

    public long pixelsPerChannel() {
        return pixelsPerChannel;
    }

    /** Mean and (population) standard deviation per channel of everything added. */
    public Normalizer toNormalizer() {
        if (pixelsPerChannel == 0) {
            throw new IllegalStateException("no images were added; cannot compute normalization statistics of an empty training set");
        }
        float[] mean = new float[channels];
        float[] std = new float[channels];
        for (int c = 0; c < channels; c++) {
            double m = sum[c] / pixelsPerChannel;
            double variance = Math.max(0, sumSquares[c] / pixelsPerChannel - m * m);
            mean[c] = (float) (shift[c] + m);
            std[c] = (float) Math.sqrt(variance);
        }
        return new Normalizer(mean, std);
    }
}
