package io.lockstep.worker.nn;

import io.lockstep.models.layers.HostFloats;
import io.lockstep.worker.train.ComputeThreads;
import org.nd4j.linalg.api.ndarray.INDArray;

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
 * NHWC and rank-2 tensors and NCHW ones of 1x1 maps (channels innermost) are walked a chunk of whole rows of
 * C values at a time, with the per-channel values repeated along the chunk, so that the inner loops run over
 * hundreds of values rather than one row of C.
 *
 * <p>Sums are shifted by a per-channel value s (the running mean in the forward, the batch mean in
 * the backward), so that Σ(x−s)² does not cancel when the mean is large against the spread; the
 * forward's float partial sums are further taken around the first value of each chunk and moved to s
 * in double, so that a running mean far from the batch's values (early in training) costs no accuracy.
 *
 * <p>Each pass is split over blocks of channels (planes) or of rows (channels innermost), run by the calling thread and helper threads
 * ({@link KernelThreads}), in at most as many parts as the replica's thread count in force: a
 * replica's BatchNorm then uses the cores its convolutions use, and never more. A channel's sums are
 * taken in the same order whichever block holds it, so the results do not depend on the split.
 *
 * <p>One instance per layer, called by the thread that runs the layer.
 */
final class BatchNormKernels {
    /** Values summed in float between two additions to a channel's double sum (a few KB: stays in L1). */
    private static final int CHUNK = 2048;

    /**
     * Values below which a pass is not split over threads: handing a part to another thread costs a
     * few microseconds, about the time of a pass over this many values.
     */
    private static final int MIN_VALUES_PER_PART = 1 << 15;
    /** Values summed side by side in an interleaved chunk (a few AVX-512 vectors' worth, so the loop vectorizes). */
    private static final int MIN_SPAN = 256;
    /** Values each float accumulator of an interleaved chunk sums before the chunk moves to double (a plane chunk's take 512). */
    private static final int VALUES_PER_LANE = 64;
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[][] {
            new float[0], new float[0], new float[0], new float[0], new float[0]});

    private final int channels;
    private final int threads;
    /** The affine's per-channel factors repeated along a chunk's rows ({@link #repeatAlongRows}); interleaved layouts only. */
    private float[] rowM = new float[0];
    private float[] rowK = new float[0];
    private float[] rowO = new float[0];
    private float[] rowP = new float[0];
    private double[] chunkSums = new double[0];

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
        if (!HostFloats.fits(arrays)) {
            return false;
        }
        for (INDArray array : arrays) {
            if (array.ordering() != 'c') {
                return false;
            }
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
        if (layout.inner() == 1) {
            interleavedSums(x, null, layout.outer(), shift, sum, squares);
            return;
        }
        forChannelBlocks(layout, (from, to) -> {
            Arrays.fill(sum, from, to, 0.0);
            Arrays.fill(squares, from, to, 0.0);
            planeSums(x, layout, shift, sum, squares, from, to);
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
        if (layout.inner() == 1) {
            interleavedSums(x, dy, layout.outer(), shift, sumDy, sumDyX);
            return;
        }
        forChannelBlocks(layout, (from, to) -> {
            Arrays.fill(sumDy, from, to, 0.0);
            Arrays.fill(sumDyX, from, to, 0.0);
            planeGradientSums(dy, x, layout, shift, sumDy, sumDyX, from, to);
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
     * Rows of C interleaved channels: with {@code dy == null}, Σ(x−s) and Σ(x−s)²; otherwise Σdy and
     * Σdy·(x−s). A chunk is {@link #VALUES_PER_LANE} spans of {@link #laneRows} whole rows (at least
     * {@link #MIN_SPAN} values); each span is copied out of the buffer and added position by position
     * into one float accumulator per value, so the inner loop runs over hundreds of values and the JIT
     * vectorizes it (a loop over one row of 16 or 32 channels is too short for that and ran scalar); the
     * lanes of a channel are then added in order, and the chunk's sums moved to double. The forward's float sums
     * are taken around the chunk's first value of each channel, as for planes. Parts of the work are
     * whole chunks, and the chunks' double sums are added in chunk order whatever the split, so the
     * split does not change a bit.
     */
    private void interleavedSums(FloatBuffer x, FloatBuffer dy, int rows, double[] shift, double[] first, double[] second) {
        int rowsPerChunk = sumRowsPerChunk();
        int chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
        double[] partial = chunkSums(2 * channels * chunks);
        forChunkBlocks(chunks, (long) rows * channels, (k0, k1) -> {
            for (int k = k0; k < k1; k++) {
                int r0 = k * rowsPerChunk;
                sumChunk(x, dy, r0, Math.min(rowsPerChunk, rows - r0), shift, partial, 2 * channels * k);
            }
        });
        Arrays.fill(first, 0.0);
        Arrays.fill(second, 0.0);
        for (int k = 0; k < chunks; k++) {
            int at = 2 * channels * k;
            for (int c = 0; c < channels; c++) {
                first[c] += partial[at + c];
                second[c] += partial[at + channels + c];
            }
        }
    }

    /** One chunk of {@link #interleavedSums}: writes its two double sums per channel at {@code partial[at, at + 2C)}. */
    private void sumChunk(FloatBuffer x, FloatBuffer dy, int r0, int count, double[] shift, double[] partial, int at) {
        int span = laneRows() * channels;
        int n = count * channels;
        int start = r0 * channels;
        float[] xs = scratch(0, span);
        float[] gs = dy == null ? null : scratch(1, span);
        float[] a = scratch(2, span);
        float[] b = scratch(3, span);
        float[] pivot = scratch(4, span);
        Arrays.fill(a, 0, span, 0f);
        Arrays.fill(b, 0, span, 0f);
        if (dy == null) {
            x.get(start, pivot, 0, channels);
        } else {
            for (int c = 0; c < channels; c++) {
                pivot[c] = (float) shift[c];
            }
        }
        for (int lane = channels; lane < span; lane += channels) {
            System.arraycopy(pivot, 0, pivot, lane, channels);
        }
        // Each span is copied out first so that every array of the inner loop is read and written at the
        // same index: C2 vectorizes that, not a loop reading the chunk at base + i and writing the
        // accumulators at i (arrays it cannot prove distinct), which ran at 1 ns per value.
        for (int base = 0; base < n; base += span) {
            int length = Math.min(span, n - base);
            x.get(start + base, xs, 0, length);
            if (dy == null) {
                for (int i = 0; i < length; i++) {
                    float d = xs[i] - pivot[i];
                    a[i] += d;
                    b[i] += d * d;
                }
            } else {
                dy.get(start + base, gs, 0, length);
                for (int i = 0; i < length; i++) {
                    float g = gs[i];
                    a[i] += g;
                    b[i] += g * (xs[i] - pivot[i]);
                }
            }
        }
        for (int c = 0; c < channels; c++) {
            float sumA = 0f;
            float sumB = 0f;
            for (int i = c; i < span; i += channels) {
                sumA += a[i];
                sumB += b[i];
            }
            if (dy == null) {
                double sumD = sumA;
                double move = (double) pivot[c] - shift[c];
                partial[at + c] = sumD + count * move;
                partial[at + channels + c] = (double) sumB + 2.0 * move * sumD + count * move * move;
            } else {
                partial[at + c] = sumA;
                partial[at + channels + c] = sumB;
            }
        }
    }

    /** Rows of an affine chunk: whole rows of about {@link #CHUNK} values. */
    private int rowsPerChunk() {
        return Math.max(1, CHUNK / channels);
    }

    /**
     * Rows of an interleaved sums chunk: {@link #VALUES_PER_LANE} rows per lane, so that each float
     * accumulator sums that many values before the chunk goes to double, and folding the lanes (scalar)
     * is a small part of the chunk's work.
     */
    private int sumRowsPerChunk() {
        return laneRows() * VALUES_PER_LANE;
    }

    /** Rows summed side by side in an interleaved chunk: at least {@link #MIN_SPAN} values, so the inner loop is long. */
    private int laneRows() {
        return Math.max(1, (MIN_SPAN + channels - 1) / channels);
    }

    /** This instance's buffer for the chunks' double sums (one layer's call at a time). */
    private double[] chunkSums(int length) {
        if (chunkSums.length < length) {
            chunkSums = new double[length];
        }
        return chunkSums;
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
            repeatAlongRows(p, m, k, o);
            forRowBlocks(layout.outer(), (from, to) -> interleavedAffine(dy, x, out, from, to));
        } else {
            forChannelBlocks(layout, (from, to) -> planeAffine(dy, p, x, layout, m, k, o, out, from, to));
        }
    }

    private void interleavedAffine(FloatBuffer dy, FloatBuffer x, FloatBuffer out, int r0, int r1) {
        int rowsPerChunk = rowsPerChunk();
        float[] xs = scratch(0, rowsPerChunk * channels);
        float[] gs = dy == null ? null : scratch(1, rowsPerChunk * channels);
        float[] m = rowM;
        float[] k = rowK;
        float[] o = rowO;
        float[] p = rowP;
        for (int from = r0; from < r1; from += rowsPerChunk) {
            int n = Math.min(rowsPerChunk, r1 - from) * channels;
            int at = from * channels;
            x.get(at, xs, 0, n);
            if (dy == null) {
                for (int i = 0; i < n; i++) {
                    xs[i] = (xs[i] - m[i]) * k[i] + o[i];
                }
            } else {
                dy.get(at, gs, 0, n);
                for (int i = 0; i < n; i++) {
                    xs[i] = ((gs[i] - o[i]) + (xs[i] - m[i]) * k[i]) * p[i];
                }
            }
            out.put(at, xs, 0, n);
        }
    }

    /**
     * Repeats each per-channel factor along a chunk's rows (index i holds channel i mod C), so that the
     * interleaved affine runs one long loop over a chunk instead of a short one per row.
     */
    private void repeatAlongRows(float[] p, float[] m, float[] k, float[] o) {
        int length = rowsPerChunk() * channels;
        if (rowM.length < length) {
            rowM = new float[length];
            rowK = new float[length];
            rowO = new float[length];
            rowP = new float[length];
        }
        for (int at = 0; at < length; at += channels) {
            System.arraycopy(m, 0, rowM, at, channels);
            System.arraycopy(k, 0, rowK, at, channels);
            System.arraycopy(o, 0, rowO, at, channels);
            if (p != null) {
                System.arraycopy(p, 0, rowP, at, channels);
            }
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

    /** Runs {@code body} over contiguous blocks of the {@code chunks} chunks of a pass over {@code values} values. */
    private void forChunkBlocks(int chunks, long values, ChannelBlock body) {
        int parts = (int) Math.min(parts(values), chunks);
        if (parts <= 1) {
            body.run(0, chunks);
            return;
        }
        KernelThreads.run(parts, part -> body.run((int) ((long) chunks * part / parts), (int) ((long) chunks * (part + 1) / parts)));
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
