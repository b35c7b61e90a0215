package io.lockstep.worker.nn;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.FloatBuffer;

/**
 * BatchNorm's per-channel arithmetic done in one pass per tensor over host memory: the statistics of
 * the forward, the fused normalize-scale-shift, the two gradient sums and the fused input gradient of
 * the backward. Used by {@link SyncBatchNormalizationLayer} (with or without peers) when every array
 * is float, lives in host memory (ND4J's CPU backend) and is laid out densely in C order; otherwise
 * the layer uses whole-array ND4J ops, which work on any backend ({@link #applies}).
 *
 * <p>Why: libnd4j reduces over (N, H, W) with generic tensor-along-dimension loops and applies a
 * broadcast op per term, each a full pass over memory; DL4J's OneDNN BatchNorm helper computes the
 * mean and variance that way before its own op. Here an NCHW tensor is walked one (n, c) plane at a
 * time: the plane is copied, at most 2,048 values at a time, into a small reused array (a memory copy)
 * and summed there with several independent float accumulators, then added to the channel's double
 * sum, so a sum over millions of values keeps double accuracy; element-wise loops over those arrays are ones the JIT vectorizes.
 * NHWC and rank-2 tensors (channels innermost) are walked one row of C values at a time.
 *
 * <p>Sums are shifted by a per-channel value s (the running mean in the forward, the batch mean in
 * the backward), so that Σ(x−s)² does not cancel when the mean is large against the spread; the
 * forward's float partial sums are further taken around the first value of each chunk and moved to s
 * in double, so that a running mean far from the batch's values (early in training) costs no accuracy.
 *
 * <p>Not thread-safe: one instance per layer, used by the thread that runs the layer.
 */
final class BatchNormKernels {
    /** Values summed in float between two additions to a channel's double sum (a few KB: stays in L1). */
    private static final int CHUNK = 2048;
    private static final boolean CPU_BACKEND = "CpuBackend".equals(Nd4j.getBackend().getClass().getSimpleName());

    private final int channels;
    private float[] a = new float[0];
    private float[] b = new float[0];

    BatchNormKernels(int channels) {
        this.channels = channels;
    }

    /** Whether these kernels can run on {@code arrays}: CPU backend, float, dense C order. */
    static boolean applies(INDArray... arrays) {
        if (!CPU_BACKEND) {
            return false;
        }
        for (INDArray array : arrays) {
            if (array.dataType() != DataType.FLOAT || array.ordering() != 'c' || array.length() > Integer.MAX_VALUE) {
                return false;
            }
        }
        return true;
    }

    /**
     * The host memory of {@code array} as a buffer whose index 0 is its first element; a copy when the
     * array is a view or not laid out with default C strides (the caller must then not write into it:
     * arrays written through this are ones the layer created, dense and not views).
     */
    static FloatBuffer floats(INDArray array) {
        INDArray dense = array;
        if (array.isView() || !Shape.hasDefaultStridesForShape(array) || array.offset() != 0) {
            dense = array.dup('c');
        }
        FloatBuffer buffer = dense.data().asNioFloat();
        if (buffer.position() != 0) {
            buffer = buffer.slice();
        }
        return buffer;
    }

    /** Shape of a BatchNorm tensor as (outer, channels, inner): NCHW (N, C, H·W); NHWC (N·H·W, C, 1); NC (N, C, 1). */
    record Layout(int outer, int inner) {
        static Layout of(INDArray x, boolean channelsLast) {
            if (x.rank() == 2) {
                return new Layout((int) x.size(0), 1);
            }
            if (channelsLast) {
                return new Layout((int) (x.size(0) * x.size(1) * x.size(2)), 1);
            }
            return new Layout((int) x.size(0), (int) (x.size(2) * x.size(3)));
        }
    }

    /** Per channel: {@code sum[c] = Σ(x−s[c])}, {@code squares[c] = Σ(x−s[c])²}, over every other axis. */
    void shiftedSums(FloatBuffer x, Layout layout, double[] shift, double[] sum, double[] squares) {
        java.util.Arrays.fill(sum, 0, channels, 0.0);
        java.util.Arrays.fill(squares, 0, channels, 0.0);
        if (layout.inner() == 1) {
            interleavedSums(x, null, layout.outer(), shift, sum, squares);
            return;
        }
        int inner = layout.inner();
        float[] xs = scratchA(Math.min(inner, CHUNK));
        for (int n = 0; n < layout.outer(); n++) {
            for (int c = 0; c < channels; c++) {
                int plane = (n * channels + c) * inner;
                for (int from = 0; from < inner; from += CHUNK) {
                    int length = Math.min(CHUNK, inner - from);
                    x.get(plane + from, xs, 0, length);
                    // Float sums around a value of this chunk stay exact enough; moved to the common
                    // shift in double below (Σ(x−s) and Σ(x−s)² from Σd and Σd², d = x − pivot).
                    float s = xs[0];
                    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, q0 = 0, q1 = 0, q2 = 0, q3 = 0;
                    int i = 0;
                    for (; i + 3 < length; i += 4) {
                        float d0 = xs[i] - s, d1 = xs[i + 1] - s, d2 = xs[i + 2] - s, d3 = xs[i + 3] - s;
                        s0 += d0;
                        s1 += d1;
                        s2 += d2;
                        s3 += d3;
                        q0 += d0 * d0;
                        q1 += d1 * d1;
                        q2 += d2 * d2;
                        q3 += d3 * d3;
                    }
                    for (; i < length; i++) {
                        float d = xs[i] - s;
                        s0 += d;
                        q0 += d * d;
                    }
                    double sumD = (double) s0 + s1 + s2 + s3;
                    double move = (double) s - shift[c];
                    sum[c] += sumD + length * move;
                    squares[c] += (double) q0 + q1 + q2 + q3 + 2.0 * move * sumD + length * move * move;
                }
            }
        }
    }

    /** Per channel: {@code sumDy[c] = Σdy}, {@code sumDyX[c] = Σdy·(x−s[c])}. */
    void gradientSums(FloatBuffer dy, FloatBuffer x, Layout layout, double[] shift, double[] sumDy, double[] sumDyX) {
        java.util.Arrays.fill(sumDy, 0, channels, 0.0);
        java.util.Arrays.fill(sumDyX, 0, channels, 0.0);
        if (layout.inner() == 1) {
            interleavedSums(x, dy, layout.outer(), shift, sumDy, sumDyX);
            return;
        }
        int inner = layout.inner();
        float[] xs = scratchA(Math.min(inner, CHUNK));
        float[] gs = scratchB(Math.min(inner, CHUNK));
        for (int n = 0; n < layout.outer(); n++) {
            for (int c = 0; c < channels; c++) {
                float s = (float) shift[c];
                int plane = (n * channels + c) * inner;
                for (int from = 0; from < inner; from += CHUNK) {
                    int length = Math.min(CHUNK, inner - from);
                    x.get(plane + from, xs, 0, length);
                    dy.get(plane + from, gs, 0, length);
                    float g0 = 0, g1 = 0, g2 = 0, g3 = 0, p0 = 0, p1 = 0, p2 = 0, p3 = 0;
                    int i = 0;
                    for (; i + 3 < length; i += 4) {
                        g0 += gs[i];
                        g1 += gs[i + 1];
                        g2 += gs[i + 2];
                        g3 += gs[i + 3];
                        p0 += gs[i] * (xs[i] - s);
                        p1 += gs[i + 1] * (xs[i + 1] - s);
                        p2 += gs[i + 2] * (xs[i + 2] - s);
                        p3 += gs[i + 3] * (xs[i + 3] - s);
                    }
                    for (; i < length; i++) {
                        g0 += gs[i];
                        p0 += gs[i] * (xs[i] - s);
                    }
                    sumDy[c] += (double) g0 + g1 + g2 + g3;
                    sumDyX[c] += (double) p0 + p1 + p2 + p3;
                }
            }
        }
    }

    /**
     * Rows of C interleaved channels: with {@code dy == null}, Σ(x−s) and Σ(x−s)²; otherwise Σdy and
     * Σdy·(x−s). Summed in double per channel (one add per value; rows are short).
     */
    private void interleavedSums(FloatBuffer x, FloatBuffer dy, int rows, double[] shift, double[] first, double[] second) {
        float[] xs = scratchA(channels);
        float[] gs = dy == null ? null : scratchB(channels);
        for (int r = 0; r < rows; r++) {
            x.get(r * channels, xs, 0, channels);
            if (dy == null) {
                for (int c = 0; c < channels; c++) {
                    double d = xs[c] - shift[c];
                    first[c] += d;
                    second[c] += d * d;
                }
            } else {
                dy.get(r * channels, gs, 0, channels);
                for (int c = 0; c < channels; c++) {
                    first[c] += gs[c];
                    second[c] += gs[c] * (xs[c] - shift[c]);
                }
            }
        }
    }

    /**
     * {@code out = (x − m[c])·k[c] + o[c]}, and with {@code dy} given {@code out = ((dy − o[c]) + (x − m[c])·k[c])·p[c]}:
     * the forward's normalize-scale-shift and the backward's input gradient, each one pass. The
     * backward subtracts the mean gradient from dy before scaling, as the textbook formula does: the
     * result's per-channel sum, zero in exact arithmetic, then stays as close to zero in float as
     * that of a whole-array computation, which matters to the weight gradient of the layer before.
     */
    void affine(FloatBuffer dy, float[] p, FloatBuffer x, Layout layout, float[] m, float[] k, float[] o, FloatBuffer out) {
        int inner = layout.inner();
        if (inner == 1) {
            float[] xs = scratchA(channels);
            float[] gs = scratchB(channels);
            for (int r = 0; r < layout.outer(); r++) {
                x.get(r * channels, xs, 0, channels);
                if (dy == null) {
                    for (int c = 0; c < channels; c++) {
                        xs[c] = (xs[c] - m[c]) * k[c] + o[c];
                    }
                } else {
                    dy.get(r * channels, gs, 0, channels);
                    for (int c = 0; c < channels; c++) {
                        xs[c] = ((gs[c] - o[c]) + (xs[c] - m[c]) * k[c]) * p[c];
                    }
                }
                out.put(r * channels, xs, 0, channels);
            }
            return;
        }
        float[] xs = scratchA(Math.min(inner, CHUNK));
        float[] gs = scratchB(Math.min(inner, CHUNK));
        for (int n = 0; n < layout.outer(); n++) {
            for (int c = 0; c < channels; c++) {
                float mc = m[c];
                float kc = k[c];
                float oc = o[c];
                int plane = (n * channels + c) * inner;
                for (int from = 0; from < inner; from += CHUNK) {
                    int length = Math.min(CHUNK, inner - from);
                    x.get(plane + from, xs, 0, length);
                    if (dy == null) {
                        for (int i = 0; i < length; i++) {
                            xs[i] = (xs[i] - mc) * kc + oc;
                        }
                    } else {
                        dy.get(plane + from, gs, 0, length);
                        float pc = p[c];
                        for (int i = 0; i < length; i++) {
                            xs[i] = ((gs[i] - oc) + (xs[i] - mc) * kc) * pc;
                        }
                    }
                    out.put(plane + from, xs, 0, length);
                }
            }
        }
    }

    private float[] scratchA(int length) {
        if (a.length < length) {
            a = new float[length];
        }
        return a;
    }

    private float[] scratchB(int length) {
        if (b.length < length) {
            b = new float[length];
        }
        return b;
    }
}
