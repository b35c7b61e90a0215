package io.lockstep.worker.nn;

import io.lockstep.worker.train.ComputeThreads;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.FloatBuffer;
import java.util.Arrays;

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
 * NHWC and rank-2 tensors and NCHW ones of 1x1 maps (channels innermost) are walked one row of C values at a time.
 *
 * <p>Sums are shifted by a per-channel value s (the running mean in the forward, the batch mean in
 * the backward), so that Σ(x−s)² does not cancel when the mean is large against the spread; the
 * forward's float partial sums are further taken around the first value of each chunk and moved to s
 * in double, so that a running mean far from the batch's values (early in training) costs no accuracy.
 *
 * <p>Each pass is split over blocks of channels, run by the calling thread and helper threads
 * ({@link KernelThreads}), in at most as many parts as the replica's thread count in force: a
 * replica's BatchNorm then uses the cores its convolutions use, and never more. A channel's sums are
 * taken in the same order whichever block it is in, so the results do not depend on the split.
 *
 * <p>One instance per layer, called by the thread that runs the layer.
 */
final class BatchNormKernels {
    /** Values summed in float between two additions to a channel's double sum (a few KB: stays in L1). */
    private static final int CHUNK = 2048;
    private static final boolean CPU_BACKEND = "CpuBackend".equals(Nd4j.getBackend().getClass().getSimpleName());

    /**
     * Values below which a pass is not split over threads: handing a part to another thread costs a
     * few microseconds, about the time of a pass over this many values.
     */
    private static final int MIN_VALUES_PER_PART = 1 << 15;
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0]});

    private final int channels;
    private final int threads;

    /** Kernels that split each pass over the thread count in force on the calling thread ({@link ComputeThreads#inForce()}). */
    BatchNormKernels(int channels) {
        this(channels, 0);
    }

    /** Kernels that split each pass over at most {@code threads} threads (0: the count in force on the calling thread). */
    BatchNormKernels(int channels, int threads) {
        if (threads < 0) {
            throw new IllegalArgumentException("thread count must be at least 0 (0: the count in force), got " + threads);
        }
        this.channels = channels;
        this.threads = threads;
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
     * array cannot be read in place ({@link #readableInPlace}), so only for reading.
     */
    static FloatBuffer floats(INDArray array) {
        return buffer(readableInPlace(array) ? array : array.dup('c'));
    }

    /**
     * The host memory of {@code array}, which the kernels write into: never a copy, so the array must
     * be one the caller created dense (a copy would silently leave the array itself unwritten).
     */
    static FloatBuffer writableFloats(INDArray array) {
        if (!readableInPlace(array)) {
            throw new IllegalStateException("BatchNorm kernels write only into dense C-order arrays that are not views, got "
                    + array.shapeInfoToString().replace('\n', ' '));
        }
        return buffer(array);
    }

    private static FloatBuffer buffer(INDArray dense) {
        FloatBuffer buffer = dense.data().asNioFloat();
        if (buffer.position() != 0) {
            buffer = buffer.slice();
        }
        return buffer;
    }

    /**
     * Whether {@code array}'s elements are its buffer's, from index 0, densely in C order. Axes of size 1
     * may carry any stride (ND4J gives them various ones, e.g. a 1x1 feature map's H and W): comparing
     * whole stride vectors with the default ones would call such an array a non-dense one.
     */
    static boolean readableInPlace(INDArray array) {
        if (array.isView() || array.offset() != 0) {
            return false;
        }
        long expected = 1;
        for (int d = array.rank() - 1; d >= 0; d--) {
            long size = array.size(d);
            if (size != 1 && array.stride(d) != expected) {
                return false;
            }
            expected *= size;
        }
        return true;
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
        forChannelBlocks(layout, (from, to) -> {
            Arrays.fill(sum, from, to, 0.0);
            Arrays.fill(squares, from, to, 0.0);
            if (layout.inner() == 1) {
                interleavedSums(x, null, layout.outer(), shift, sum, squares, from, to);
            } else {
                planeSums(x, layout, shift, sum, squares, from, to);
            }
        });
    }

    private void planeSums(FloatBuffer x, Layout layout, double[] shift, double[] sum, double[] squares, int c0, int c1) {
        int inner = layout.inner();
        float[] xs = scratch(0, Math.min(inner, CHUNK));
        for (int n = 0; n < layout.outer(); n++) {
            for (int c = c0; c < c1; c++) {
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
        forChannelBlocks(layout, (from, to) -> {
            Arrays.fill(sumDy, from, to, 0.0);
            Arrays.fill(sumDyX, from, to, 0.0);
            if (layout.inner() == 1) {
                interleavedSums(x, dy, layout.outer(), shift, sumDy, sumDyX, from, to);
            } else {
                planeGradientSums(dy, x, layout, shift, sumDy, sumDyX, from, to);
            }
        });
    }

    private void planeGradientSums(FloatBuffer dy, FloatBuffer x, Layout layout, double[] shift, double[] sumDy,
                                   double[] sumDyX, int c0, int c1) {
        int inner = layout.inner();
        float[] xs = scratch(0, Math.min(inner, CHUNK));
        float[] gs = scratch(1, Math.min(inner, CHUNK));
        for (int n = 0; n < layout.outer(); n++) {
            for (int c = c0; c < c1; c++) {
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
     * Rows of C interleaved channels, channels {@code [c0, c1)}: with {@code dy == null}, Σ(x−s) and
     * Σ(x−s)²; otherwise Σdy and Σdy·(x−s). Rows are read a chunk of about {@link #CHUNK} values at a time
     * (whole rows, one memory copy) and summed per channel in float across the chunk's rows — the inner
     * loop runs along the row, which the JIT vectorizes — then added to the channel's double sum. The
     * forward's float sums are taken around the chunk's first value of each channel, as for planes. The
     * chunks are the same whichever block of channels a part sums, so the split does not change a bit.
     */
    private void interleavedSums(FloatBuffer x, FloatBuffer dy, int rows, double[] shift, double[] first, double[] second,
                                 int c0, int c1) {
        int width = c1 - c0;
        int rowsPerChunk = Math.max(1, CHUNK / channels);
        float[] xs = scratch(0, rowsPerChunk * channels);
        float[] gs = dy == null ? null : scratch(1, rowsPerChunk * channels);
        float[] a = new float[width];
        float[] b = new float[width];
        float[] pivot = new float[width];
        for (int r0 = 0; r0 < rows; r0 += rowsPerChunk) {
            int count = Math.min(rowsPerChunk, rows - r0);
            x.get(r0 * channels, xs, 0, count * channels);
            Arrays.fill(a, 0f);
            Arrays.fill(b, 0f);
            if (dy == null) {
                System.arraycopy(xs, c0, pivot, 0, width);
                for (int r = 0; r < count; r++) {
                    int base = r * channels + c0;
                    for (int j = 0; j < width; j++) {
                        float d = xs[base + j] - pivot[j];
                        a[j] += d;
                        b[j] += d * d;
                    }
                }
                for (int j = 0; j < width; j++) {
                    double sumD = a[j];
                    double move = (double) pivot[j] - shift[c0 + j];
                    first[c0 + j] += sumD + count * move;
                    second[c0 + j] += (double) b[j] + 2.0 * move * sumD + count * move * move;
                }
            } else {
                dy.get(r0 * channels, gs, 0, count * channels);
                for (int j = 0; j < width; j++) {
                    pivot[j] = (float) shift[c0 + j];
                }
                for (int r = 0; r < count; r++) {
                    int base = r * channels + c0;
                    for (int j = 0; j < width; j++) {
                        float g = gs[base + j];
                        a[j] += g;
                        b[j] += g * (xs[base + j] - pivot[j]);
                    }
                }
                for (int j = 0; j < width; j++) {
                    first[c0 + j] += a[j];
                    second[c0 + j] += b[j];
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
        if (layout.inner() == 1) {
            // Element-wise, so split over rows: parts then write whole chunks of rows, never each other's.
            forRowBlocks(layout.outer(), (from, to) -> interleavedAffine(dy, p, x, m, k, o, out, from, to));
        } else {
            forChannelBlocks(layout, (from, to) -> planeAffine(dy, p, x, layout, m, k, o, out, from, to));
        }
    }

    private void interleavedAffine(FloatBuffer dy, float[] p, FloatBuffer x, float[] m, float[] k, float[] o,
                                   FloatBuffer out, int r0, int r1) {
        int rowsPerChunk = Math.max(1, CHUNK / channels);
        float[] xs = scratch(0, rowsPerChunk * channels);
        float[] gs = dy == null ? null : scratch(1, rowsPerChunk * channels);
        for (int from = r0; from < r1; from += rowsPerChunk) {
            int count = Math.min(rowsPerChunk, r1 - from);
            int at = from * channels;
            x.get(at, xs, 0, count * channels);
            if (dy == null) {
                for (int r = 0; r < count; r++) {
                    int base = r * channels;
                    for (int c = 0; c < channels; c++) {
                        xs[base + c] = (xs[base + c] - m[c]) * k[c] + o[c];
                    }
                }
            } else {
                dy.get(at, gs, 0, count * channels);
                for (int r = 0; r < count; r++) {
                    int base = r * channels;
                    for (int c = 0; c < channels; c++) {
                        xs[base + c] = ((gs[base + c] - o[c]) + (xs[base + c] - m[c]) * k[c]) * p[c];
                    }
                }
            }
            out.put(at, xs, 0, count * channels);
        }
    }

    private void planeAffine(FloatBuffer dy, float[] p, FloatBuffer x, Layout layout, float[] m, float[] k, float[] o,
                             FloatBuffer out, int c0, int c1) {
        int inner = layout.inner();
        float[] xs = scratch(0, Math.min(inner, CHUNK));
        float[] gs = scratch(1, Math.min(inner, CHUNK));
        for (int n = 0; n < layout.outer(); n++) {
            for (int c = c0; c < c1; c++) {
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

    /**
     * Runs {@code body} over contiguous blocks of channels, split into as many parts as the thread count
     * allows ({@link #parts}). Each channel's arithmetic is the same whichever part it falls in, so the
     * results are bit-identical to one part.
     */
    private void forChannelBlocks(Layout layout, ChannelBlock body) {
        long values = (long) layout.outer() * channels * layout.inner();
        int parts = parts(values);
        if (parts == 1) {
            body.run(0, channels);
            return;
        }
        KernelThreads.run(parts, part -> body.run(
                (int) ((long) channels * part / parts), (int) ((long) channels * (part + 1) / parts)));
    }

    /** Runs {@code body} over contiguous blocks of rows (of C interleaved channels), split as {@link #forChannelBlocks} splits. */
    private void forRowBlocks(int rows, ChannelBlock body) {
        int parts = (int) Math.min(parts((long) rows * channels), rows);
        if (parts <= 1) {
            body.run(0, rows);
            return;
        }
        KernelThreads.run(parts, part -> body.run((int) ((long) rows * part / parts), (int) ((long) rows * (part + 1) / parts)));
    }

    /** How many parts a pass over {@code values} values is split into: no more than threads or channels, and none small. */
    int parts(long values) {
        int allowed = threads > 0 ? threads : ComputeThreads.inForce();
        return (int) Math.max(1, Math.min(Math.min(allowed, channels), values / MIN_VALUES_PER_PART));
    }

    @FunctionalInterface
    private interface ChannelBlock {
        void run(int from, int to);
    }

    /** Scratch arrays of the calling thread (the layer's thread or a helper), reused across calls. */
    private static float[] scratch(int which, int length) {
        float[][] arrays = SCRATCH.get();
        if (arrays[which].length < length) {
            arrays[which] = new float[length];
        }
        return arrays[which];
    }
}
