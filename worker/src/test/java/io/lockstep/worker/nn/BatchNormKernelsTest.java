package io.lockstep.worker.nn;

import io.lockstep.models.layers.HostFloats;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.nio.FloatBuffer;

import static io.lockstep.worker.nn.BatchNormTestSupport.assertClose;
import static io.lockstep.worker.nn.BatchNormTestSupport.standaloneLayer;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The float fast path of {@link SyncBatchNormalizationLayer} ({@link BatchNormKernels}) computes what
 * DL4J's own BatchNorm computes in double — the reference whose gradients the gradient checks of
 * {@link SyncBatchNormGradientCheckTest} verify — for every layout it handles: output, input gradient,
 * γ/β gradients and the running-statistic updates.
 */
class BatchNormKernelsTest {
    private static final double TOLERANCE = 2e-5;

    @Test
    void nchwWithPlanesLongerThanOneChunk() {
        // 50×50 = 2,500 values per plane: more than the 2,048 summed per float chunk.
        check(new BatchNormalization.Builder().nIn(3).nOut(3).build(), new long[] {4, 3, 50, 50}, 1.0, false);
    }

    @Test
    void nchwFarFromTheRunningMean() {
        // Float itself limits this case: values near 300 are stored to ±1.5e-5, which moves x̂ by ~1e-5
        // per value, and Σdy·x̂ (the γ gradient) adds 392 such errors of random sign.
        check(new BatchNormalization.Builder().nIn(5).nOut(5).build(), new long[] {8, 5, 7, 7}, 300.0, false, 5e-4);
    }

    @Test
    void nhwc() {
        check(new BatchNormalization.Builder().nIn(6).nOut(6).dataFormat(CNN2DFormat.NHWC).build(),
                new long[] {3, 5, 4, 6}, 1.0, false);
    }

    @Test
    void nhwcWithMoreRowsThanOneChunk() {
        // 2,048 rows of 16 channels: the interleaved sums span 16 chunks of 128 rows, with float partial
        // sums per chunk around its first row; far from the running mean as early in training.
        check(new BatchNormalization.Builder().nIn(16).nOut(16).dataFormat(CNN2DFormat.NHWC).build(),
                new long[] {8, 16, 16, 16}, 50.0, false, 5e-4);
    }

    @Test
    void nhwcWithChannelsThatDoNotDivideTheInnerLoop() {
        // 24 channels: a chunk holds 85 rows (2,040 values); 5x9x9 = 405 rows end in a partial chunk.
        check(new BatchNormalization.Builder().nIn(24).nOut(24).dataFormat(CNN2DFormat.NHWC).build(),
                new long[] {5, 9, 9, 24}, 3.0, false);
    }

    @Test
    void nhwcWithRowsWiderThanTheInnerLoop() {
        // 300 channels: 6 rows per chunk, 36 rows in all.
        check(new BatchNormalization.Builder().nIn(300).nOut(300).dataFormat(CNN2DFormat.NHWC).build(),
                new long[] {4, 3, 3, 300}, 1.0, false);
    }

    @Test
    void nchwWithOneByOneMaps() {
        // The last stage of a ResNet or GoogLeNet at small inputs: channels interleaved, one value per plane.
        check(new BatchNormalization.Builder().nIn(5).nOut(5).build(), new long[] {6, 5, 1, 1}, 1.0, false);
    }

    @Test
    void nchwWithOneByOneMapsThatAreViews() {
        check(new BatchNormalization.Builder().nIn(5).nOut(5).build(), new long[] {6, 5, 1, 1}, 1.0, true);
    }

    @Test
    void rank2() {
        check(new BatchNormalization.Builder().nIn(7).nOut(7).build(), new long[] {33, 7}, 1.0, false);
    }

    @Test
    void inputAndEpsilonThatAreViews() {
        check(new BatchNormalization.Builder().nIn(4).nOut(4).build(), new long[] {6, 4, 5, 5}, 1.0, true);
    }

    @Test
    void lockedGammaBeta() {
        check(new BatchNormalization.Builder().nIn(4).nOut(4).lockGammaBeta(true).gamma(1.5).beta(-0.25).build(),
                new long[] {6, 4, 5, 5}, 1.0, false);
    }

    /**
     * Split on several threads (planes by channel blocks, interleaved channels by chunks of rows), every
     * pass gives the bit-identical result of one thread: planes (NCHW), interleaved channels (1x1 maps, NHWC, rank 2) with 7 to 300 channels, and
     * splits that leave blocks of unequal size.
     */
    @ParameterizedTest(name = "{0} channels, {1} values per channel, {2} per plane, {3} threads")
    @CsvSource({
            "16, 7200, 36, 2",
            "12, 9216, 576, 3",
            "24, 4096, 1, 2",
            "7, 16384, 1, 3",
            "16, 12544, 1, 2",
            "64, 3136, 1, 2",
            "300, 2000, 1, 3",
            "5, 30000, 3000, 4"})
    void splitOverThreadsIsBitIdentical(int channels, int perChannel, int inner, int threads) {
        BatchNormKernels.Layout layout = new BatchNormKernels.Layout(perChannel / inner, inner);
        BatchNormKernels one = new BatchNormKernels(channels, 1);
        BatchNormKernels split = new BatchNormKernels(channels, threads);
        long length = (long) channels * perChannel;
        assertEquals(Math.min(threads, channels), split.parts(length), "the pass is split over every thread");

        Nd4j.getRandom().setSeed(3);
        FloatBuffer x = HostFloats.readable(Nd4j.randn(DataType.FLOAT, length).muli(2).addi(0.5));
        FloatBuffer dy = HostFloats.readable(Nd4j.randn(DataType.FLOAT, length));
        double[] shift = new double[channels];
        float[] m = new float[channels];
        float[] k = new float[channels];
        float[] o = new float[channels];
        float[] p = new float[channels];
        for (int c = 0; c < channels; c++) {
            shift[c] = 0.1 * c;
            m[c] = 0.2f * c;
            k[c] = 1.5f - 0.1f * c;
            o[c] = -0.3f + 0.05f * c;
            p[c] = 0.7f + 0.01f * c;
        }
        double[][] sums = new double[8][channels];
        one.shiftedSums(x, layout, shift, sums[0], sums[1]);
        split.shiftedSums(x, layout, shift, sums[2], sums[3]);
        one.gradientSums(dy, x, layout, shift, sums[4], sums[5]);
        split.gradientSums(dy, x, layout, shift, sums[6], sums[7]);
        assertArrayEquals(sums[0], sums[2], "Σ(x−s)");
        assertArrayEquals(sums[1], sums[3], "Σ(x−s)²");
        assertArrayEquals(sums[4], sums[6], "Σdy");
        assertArrayEquals(sums[5], sums[7], "Σdy·(x−s)");

        FloatBuffer[] outs = new FloatBuffer[4];
        for (int i = 0; i < outs.length; i++) {
            outs[i] = HostFloats.readable(Nd4j.create(DataType.FLOAT, length));
        }
        one.affine(null, null, x, layout, m, k, o, outs[0]);
        split.affine(null, null, x, layout, m, k, o, outs[1]);
        one.affine(dy, p, x, layout, m, k, o, outs[2]);
        split.affine(dy, p, x, layout, m, k, o, outs[3]);
        assertEquals(outs[0], outs[1], "normalize-scale-shift");
        assertEquals(outs[2], outs[3], "input gradient");
        assertTrue(outs[1].get(0) != 0f && outs[1].get((int) length - 1) != 0f, "every block was written");
    }

    private static void check(BatchNormalization plain, long[] shape, double offset, boolean views) {
        check(plain, shape, offset, views, TOLERANCE);
    }

    private static void check(BatchNormalization plain, long[] shape, double offset, boolean views, double tolerance) {
        Nd4j.getRandom().setSeed(7);
        INDArray initial = SyncBatchNormalizationLayerTest.randomInitialParams(plain, DataType.DOUBLE);
        INDArray x = Nd4j.randn(DataType.DOUBLE, shape).muli(1.7).addi(offset);
        INDArray dy = Nd4j.randn(DataType.DOUBLE, shape);
        LayerWorkspaceMgr none = LayerWorkspaceMgr.noWorkspaces();

        Layer reference = standaloneLayer(plain, DataType.DOUBLE, initial);
        reference.setInput(x, none);
        INDArray expectedOut = reference.activate(true, none).dup();
        Pair<Gradient, INDArray> expected = reference.backpropGradient(dy, none);

        SyncBatchNormalizationLayer layer = (SyncBatchNormalizationLayer) standaloneLayer(
                SyncBatchNormalization.from(plain, false), DataType.FLOAT, initial.castTo(DataType.FLOAT));
        INDArray xf = x.castTo(DataType.FLOAT);
        INDArray dyf = dy.castTo(DataType.FLOAT);
        if (views) {
            // The same values as views into larger arrays (as a graph may pass them).
            xf = viewOf(xf);
            dyf = viewOf(dyf);
        }
        layer.setInput(xf, none);
        INDArray out = layer.activate(true, none).dup();
        assertTrue(layer.lastForwardOnKernels(), "a float CPU training forward must run on the kernels");
        Pair<Gradient, INDArray> actual = layer.backpropGradient(dyf, none);

        assertClose("output", expectedOut, out, tolerance);
        assertClose("input gradient", expected.getSecond(), actual.getSecond(), tolerance);
        for (String key : expected.getFirst().gradientForVariable().keySet()) {
            INDArray want = expected.getFirst().getGradientFor(key);
            boolean affine = key.equals("gamma") || key.equals("beta");
            if (want != null && !(plain.isLockGammaBeta() && affine)) { // locked γ/β have no gradient
                assertClose("gradient of " + key, want, actual.getFirst().getGradientFor(key), tolerance);
            }
        }
    }

    private static INDArray viewOf(INDArray a) {
        long[] shape = a.shape().clone();
        shape[0] += 2;
        INDArray larger = Nd4j.rand(a.dataType(), shape);
        INDArray view = larger.get(NDArrayIndex.interval(1, a.size(0) + 1));
        view.assign(a);
        assertTrue(view.isView() && view.offset() > 0);
        return view;
    }
}
