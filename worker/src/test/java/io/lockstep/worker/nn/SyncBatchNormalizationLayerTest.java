package io.lockstep.worker.nn;

import io.lockstep.worker.testing.ThreadCollectives;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static io.lockstep.worker.nn.BatchNormTestSupport.assertClose;
import static io.lockstep.worker.nn.BatchNormTestSupport.standaloneLayer;
import static io.lockstep.worker.nn.BatchNormTestSupport.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Layer-level equivalence: N in-process replicas of the sync layer on slices of a batch (unequal
 * sizes, one empty) produce what DL4J's own BatchNormalization produces on the concatenated batch.
 *
 * <p>dγ and dβ are the replica's LOCAL sums Σ_i dy_i·x̂_i and Σ_i dy_i over its own examples, where x̂
 * uses the global statistics and dy_i (the loss summed over the global batch, differentiated at
 * example i) is the same number whichever replica holds example i. So the sum over replicas equals the
 * global layer's dγ, dβ exactly in exact arithmetic; that is what the gradient exchange relies on.
 */
class SyncBatchNormalizationLayerTest {
    private static final Logger LOG = LoggerFactory.getLogger(SyncBatchNormalizationLayerTest.class);
    private static final int C = 3;
    private static final int H = 4;
    private static final int W = 5;
    private static final double DECAY = 0.9;

    enum Layout { NC, NCHW, NHWC }

    record Case(String name, DataType type, Layout layout, boolean affine, boolean logStd, boolean unbiased,
                int[] batches) {
        @Override
        public String toString() {
            return name + " " + type + " " + layout + (affine ? " affine" : " locked-gamma-beta")
                    + (logStd ? " log10stdev" : " var") + (unbiased ? " unbiased" : " biased")
                    + " batches=" + Arrays.toString(batches);
        }

        double tolerance() {
            return type == DataType.DOUBLE ? 1e-10 : 1e-5;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("2 ranks unequal", DataType.FLOAT, Layout.NC, true, true, false, new int[] {3, 5}),
                new Case("3 ranks one empty", DataType.FLOAT, Layout.NCHW, true, true, false, new int[] {2, 0, 3}),
                new Case("2 ranks equal", DataType.FLOAT, Layout.NCHW, false, false, false, new int[] {4, 4}),
                new Case("3 ranks empty first", DataType.FLOAT, Layout.NC, false, true, true, new int[] {0, 4, 2}),
                new Case("3 ranks nhwc", DataType.FLOAT, Layout.NHWC, true, false, true, new int[] {1, 3, 2}),
                new Case("1 rank", DataType.FLOAT, Layout.NCHW, true, true, false, new int[] {6}),
                new Case("3 ranks unequal", DataType.DOUBLE, Layout.NCHW, true, false, true, new int[] {3, 1, 2}),
                new Case("3 ranks one empty", DataType.DOUBLE, Layout.NC, true, true, false, new int[] {2, 0, 5}),
                new Case("2 ranks unequal", DataType.DOUBLE, Layout.NCHW, false, true, false, new int[] {2, 3}),
                new Case("3 ranks one empty", DataType.DOUBLE, Layout.NC, false, false, true, new int[] {5, 0, 1}),
                new Case("3 ranks one empty", DataType.DOUBLE, Layout.NCHW, true, true, true, new int[] {1, 2, 0}));
    }

    private DataType previousDefault;
    private DataType previousFloatingPoint;

    @BeforeEach
    void rememberDefaults() {
        previousDefault = Nd4j.dataType();
        previousFloatingPoint = Nd4j.defaultFloatingPointType();
    }

    @AfterEach
    void restoreDefaults() {
        Nd4j.setDefaultDataTypes(previousDefault, previousFloatingPoint);
    }

    /** Runs one body per rank of some group of {@code ranks} collectives and returns the results by rank. */
    @FunctionalInterface
    interface GroupRunner {
        List<RankResult> run(int ranks, ThreadCollectives.RankBody<RankResult> body) throws Exception;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void replicasMatchPlainBatchNormOnTheConcatenatedBatch(Case c) throws Exception {
        assertMatchesPlainBatchNorm(c, (ranks, body) -> ThreadCollectives.create(ranks, 30_000).runOnAllRanks(120_000, body));
    }

    /** The layer-level contract of the class comment, over the group that {@code runner} provides. */
    static void assertMatchesPlainBatchNorm(Case c, GroupRunner runner) throws Exception {
        if (c.type == DataType.DOUBLE) {
            Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
        }
        Nd4j.getRandom().setSeed(12345);
        BatchNormalization plainConf = plainConf(c);
        SyncBatchNormalization syncConf = SyncBatchNormalization.from(plainConf, c.unbiased);
        INDArray initial = randomInitialParams(plainConf, c.type);

        int ranks = c.batches.length;
        INDArray[] inputs = new INDArray[ranks];
        INDArray[] epsilons = new INDArray[ranks];
        List<INDArray> nonEmptyInputs = new ArrayList<>();
        List<INDArray> nonEmptyEpsilons = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            inputs[r] = randomActivations(c.layout, c.batches[r], 3.0, 2.0).castTo(c.type);
            epsilons[r] = randomActivations(c.layout, c.batches[r], 0.0, 1.0).castTo(c.type);
            if (c.batches[r] > 0) {
                nonEmptyInputs.add(inputs[r]);
                nonEmptyEpsilons.add(epsilons[r]);
            }
        }
        INDArray globalInput = Nd4j.concat(0, nonEmptyInputs.toArray(new INDArray[0]));
        INDArray globalEpsilon = Nd4j.concat(0, nonEmptyEpsilons.toArray(new INDArray[0]));

        LayerWorkspaceMgr noWorkspaces = LayerWorkspaceMgr.noWorkspaces();
        Layer reference = standaloneLayer(plainConf, c.type, initial);
        reference.setInput(globalInput, noWorkspaces);
        INDArray referenceOut = reference.activate(true, noWorkspaces).dup();
        Pair<Gradient, INDArray> referenceBack = reference.backpropGradient(globalEpsilon, noWorkspaces);
        INDArray referenceDx = referenceBack.getSecond().dup();
        Map<String, INDArray> referenceGradient = copy(referenceBack.getFirst());

        List<RankResult> results = runner.run(ranks, collective -> {
            int r = collective.rank();
            LayerWorkspaceMgr workspaces = LayerWorkspaceMgr.noWorkspaces();
            SyncBatchNormalizationLayer layer = (SyncBatchNormalizationLayer) standaloneLayer(syncConf, c.type, initial);
            layer.attach(collective);
            layer.setInput(inputs[r], workspaces);
            INDArray out = layer.activate(true, workspaces).dup();
            Pair<Gradient, INDArray> back = layer.backpropGradient(epsilons[r], workspaces);
            return new RankResult(out, back.getSecond().dup(), copy(back.getFirst()), layer.communications());
        });

        double tolerance = c.tolerance();
        int start = 0;
        for (int r = 0; r < ranks; r++) {
            RankResult result = results.get(r);
            int end = start + c.batches[r];
            assertClose(c + " rank " + r + " output", rows(referenceOut, start, end), result.out, tolerance);
            assertClose(c + " rank " + r + " dx", rows(referenceDx, start, end), result.dx, tolerance);
            assertEquals(ranks > 1 ? 2 : 0, result.communications, "all-reduce calls of rank " + r);
            start = end;
        }

        if (c.affine) {
            for (String key : List.of(BatchNormalizationParamInitializer.GAMMA, BatchNormalizationParamInitializer.BETA)) {
                INDArray sumOverRanks = results.get(0).gradient.get(key).dup();
                for (int r = 1; r < ranks; r++) {
                    sumOverRanks.addi(results.get(r).gradient.get(key));
                }
                assertClose(c + " sum over ranks of local d" + key, referenceGradient.get(key), sumOverRanks, tolerance);
            }
        } else {
            assertEquals(List.of(BatchNormalizationParamInitializer.GLOBAL_MEAN, varianceKey(c)),
                    new ArrayList<>(results.get(0).gradient.keySet()), "gradient keys without affine parameters");
        }

        for (int r = 1; r < ranks; r++) {
            for (String key : List.of(BatchNormalizationParamInitializer.GLOBAL_MEAN, varianceKey(c))) {
                assertArrayEquals(values(results.get(0).gradient.get(key)), values(results.get(r).gradient.get(key)),
                        c + ": running-statistic slot " + key + " must be bit-identical on every rank (rank " + r + ")");
            }
        }
        Map<String, INDArray> sync = results.get(0).gradient;
        assertClose(c + " running-mean pseudo-gradient", referenceGradient.get(BatchNormalizationParamInitializer.GLOBAL_MEAN),
                sync.get(BatchNormalizationParamInitializer.GLOBAL_MEAN), tolerance);
        if (c.unbiased) {
            assertUnbiasedRunningVariance(c, initial, globalInput, sync.get(varianceKey(c)), tolerance);
        } else {
            assertClose(c + " running-variance pseudo-gradient (DL4J's biased update)",
                    referenceGradient.get(varianceKey(c)), sync.get(varianceKey(c)), tolerance);
        }
        LOG.info("{}: max scaled error output {} dx {}", c,
                BatchNormTestSupport.maxScaledError(rows(referenceOut, 0, c.batches[0]), results.get(0).out),
                BatchNormTestSupport.maxScaledError(rows(referenceDx, 0, c.batches[0]), results.get(0).dx));
    }

    /**
     * PyTorch semantics: running var ← decay·var + (1−decay)·var_unbiased(global batch), checked on the
     * parameter the NoOp updater produces (param − pseudo-gradient), against the variance computed here
     * independently from the concatenated batch.
     */
    private static void assertUnbiasedRunningVariance(Case c, INDArray initial, INDArray globalInput, INDArray pseudoGradient,
                                                      double tolerance) {
        Layer probe = standaloneLayer(plainConf(c), c.type, initial);
        double[] before = values(probe.getParam(varianceKey(c)));
        double[] unbiased = values(globalInput.castTo(DataType.DOUBLE).var(true, reductionDims(c.layout)));
        double[] grad = values(pseudoGradient);
        double[] expected = new double[C];
        double[] actual = new double[C];
        for (int ch = 0; ch < C; ch++) {
            double oldVariance = c.logStd ? Math.pow(10.0, 2 * before[ch]) : before[ch];
            double newVariance = DECAY * oldVariance + (1 - DECAY) * unbiased[ch];
            expected[ch] = c.logStd ? 0.5 * Math.log10(newVariance) : newVariance;
            actual[ch] = before[ch] - grad[ch];
        }
        assertClose(c + " running variance after the update (unbiased)", expected, actual, tolerance);
    }

    /**
     * Activations around 1000 with std 2, in float: the global mean must come from double sums (a float
     * sum of these values is off by ~1e-2, i.e. ~1e-2 standard deviations). Checked against plain
     * BatchNorm in DOUBLE on the same (float-representable) values.
     */
    @Test
    void largeActivationOffsetsStayAccurateInFloat() throws Exception {
        Nd4j.getRandom().setSeed(99);
        BatchNormalization plainConf = new BatchNormalization.Builder().nIn(C).nOut(C).decay(DECAY).build();
        INDArray initial = randomInitialParams(plainConf, DataType.FLOAT);
        int[] batches = {24, 40};
        INDArray[] inputs = new INDArray[batches.length];
        INDArray[] epsilons = new INDArray[batches.length];
        for (int r = 0; r < batches.length; r++) {
            inputs[r] = Nd4j.randn(DataType.DOUBLE, batches[r], C, 16, 16).muli(2.0).addi(1000.0).castTo(DataType.FLOAT);
            epsilons[r] = Nd4j.randn(DataType.DOUBLE, batches[r], C, 16, 16).castTo(DataType.FLOAT);
        }
        INDArray globalInput = Nd4j.concat(0, inputs).castTo(DataType.DOUBLE);
        INDArray globalEpsilon = Nd4j.concat(0, epsilons).castTo(DataType.DOUBLE);
        LayerWorkspaceMgr noWorkspaces = LayerWorkspaceMgr.noWorkspaces();
        Layer exact = standaloneLayer(plainConf, DataType.DOUBLE, initial.castTo(DataType.DOUBLE));
        exact.setInput(globalInput, noWorkspaces);
        INDArray exactOut = exact.activate(true, noWorkspaces).dup();
        INDArray exactDx = exact.backpropGradient(globalEpsilon, noWorkspaces).getSecond().dup();

        Layer plainFloat = standaloneLayer(plainConf, DataType.FLOAT, initial);
        plainFloat.setInput(globalInput.castTo(DataType.FLOAT), noWorkspaces);
        double plainFloatError = BatchNormTestSupport.maxScaledError(exactOut, plainFloat.activate(true, noWorkspaces));

        SyncBatchNormalization syncConf = SyncBatchNormalization.from(plainConf);
        List<INDArray[]> results = ThreadCollectives.create(batches.length, 30_000).runOnAllRanks(120_000, collective -> {
            LayerWorkspaceMgr workspaces = LayerWorkspaceMgr.noWorkspaces();
            SyncBatchNormalizationLayer layer = (SyncBatchNormalizationLayer) standaloneLayer(syncConf, DataType.FLOAT, initial);
            layer.attach(collective);
            layer.setInput(inputs[collective.rank()], workspaces);
            INDArray out = layer.activate(true, workspaces).dup();
            return new INDArray[] {out, layer.backpropGradient(epsilons[collective.rank()], workspaces).getSecond().dup()};
        });
        INDArray syncOut = Nd4j.concat(0, results.get(0)[0], results.get(1)[0]);
        INDArray syncDx = Nd4j.concat(0, results.get(0)[1], results.get(1)[1]);
        LOG.info("offset 1000, std 2, float: max scaled output error sync {} vs DL4J plain float {}",
                BatchNormTestSupport.maxScaledError(exactOut, syncOut), plainFloatError);
        assertClose("float sync output vs double reference", exactOut, syncOut, 1e-4);
        assertClose("float sync dx vs double reference", exactDx, syncDx, 1e-4);
    }

    @Test
    void withoutCollectiveOrAfterDetachTheLayerIsPlainBatchNorm() {
        Nd4j.getRandom().setSeed(7);
        BatchNormalization plainConf = new BatchNormalization.Builder().nIn(C).nOut(C).decay(DECAY).build();
        INDArray initial = randomInitialParams(plainConf, DataType.FLOAT);
        INDArray input = randomActivations(Layout.NCHW, 4, 1.0, 3.0).castTo(DataType.FLOAT);
        INDArray epsilon = randomActivations(Layout.NCHW, 4, 0.0, 1.0).castTo(DataType.FLOAT);
        LayerWorkspaceMgr workspaces = LayerWorkspaceMgr.noWorkspaces();

        Layer reference = standaloneLayer(plainConf, DataType.FLOAT, initial);
        reference.setInput(input, workspaces);
        INDArray expectedOut = reference.activate(true, workspaces).dup();
        Pair<Gradient, INDArray> expectedBack = reference.backpropGradient(epsilon, workspaces);

        SyncBatchNormalizationLayer layer = (SyncBatchNormalizationLayer) standaloneLayer(
                SyncBatchNormalization.from(plainConf, false), DataType.FLOAT, initial);
        assertEquals(null, layer.collective());
        layer.setInput(input, workspaces);
        assertClose("output", expectedOut, layer.activate(true, workspaces), 1e-5);
        Pair<Gradient, INDArray> back = layer.backpropGradient(epsilon, workspaces);
        assertClose("dx", expectedBack.getSecond(), back.getSecond(), 1e-5);
        assertClose("gradient", expectedBack.getFirst().gradient(), back.getFirst().gradient(), 1e-5);
        assertEquals(0, layer.communications());
    }

    @Test
    void inferenceUsesRunningStatisticsAndNeverCommunicates() throws Exception {
        Nd4j.getRandom().setSeed(11);
        BatchNormalization plainConf = new BatchNormalization.Builder().nIn(C).nOut(C).build();
        INDArray initial = randomInitialParams(plainConf, DataType.FLOAT);
        INDArray input = randomActivations(Layout.NCHW, 3, 2.0, 2.0).castTo(DataType.FLOAT);
        LayerWorkspaceMgr workspaces = LayerWorkspaceMgr.noWorkspaces();
        Layer reference = standaloneLayer(plainConf, DataType.FLOAT, initial);
        reference.setInput(input, workspaces);
        INDArray expected = reference.activate(false, workspaces).dup();

        // Only rank 0 of a 2-rank group runs: any collective call would wait for rank 1 and time out.
        ThreadCollectives group = ThreadCollectives.create(2, 2_000);
        SyncBatchNormalizationLayer layer = (SyncBatchNormalizationLayer) standaloneLayer(
                SyncBatchNormalization.from(plainConf), DataType.FLOAT, initial);
        layer.attach(group.rank(0));
        layer.setInput(input, workspaces);
        INDArray actual = layer.activate(false, workspaces);
        assertArrayEquals(values(expected), values(actual), 0.0, "inference is DL4J's own code path");
        assertEquals(0, layer.communications());
    }

    @Test
    void anEmptyGlobalBatchIsRejectedOnEveryRank() throws Exception {
        BatchNormalization plainConf = new BatchNormalization.Builder().nIn(C).nOut(C).build();
        ThreadCollectives group = ThreadCollectives.create(2, 30_000);
        List<String> messages = group.runOnAllRanks(60_000, collective -> {
            SyncBatchNormalizationLayer layer = (SyncBatchNormalizationLayer) standaloneLayer(
                    SyncBatchNormalization.from(plainConf), DataType.FLOAT, null);
            layer.attach(collective);
            layer.setInput(Nd4j.create(DataType.FLOAT, 0, C), LayerWorkspaceMgr.noWorkspaces());
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> layer.activate(true, LayerWorkspaceMgr.noWorkspaces()));
            return e.getMessage();
        });
        for (String message : messages) {
            assertTrue(message.contains("empty on every replica"), message);
        }
    }

    @Test
    void unbiasedModeRejectsASingleValuePerChannelButBiasedModeAcceptsIt() {
        BatchNormalization plainConf = new BatchNormalization.Builder().nIn(C).nOut(C).build();
        INDArray single = Nd4j.rand(DataType.FLOAT, 1, C);
        LayerWorkspaceMgr workspaces = LayerWorkspaceMgr.noWorkspaces();

        SyncBatchNormalizationLayer unbiased = (SyncBatchNormalizationLayer) standaloneLayer(
                SyncBatchNormalization.from(plainConf, true), DataType.FLOAT, null);
        unbiased.setInput(single, workspaces);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> unbiased.activate(true, workspaces));
        assertTrue(e.getMessage().contains("single value per channel"), e.getMessage());

        SyncBatchNormalizationLayer biased = (SyncBatchNormalizationLayer) standaloneLayer(
                SyncBatchNormalization.from(plainConf, false), DataType.FLOAT, null);
        biased.setInput(single, workspaces);
        INDArray out = biased.activate(true, workspaces);
        assertArrayEquals(new double[C], values(out), 0.0, "a single value normalizes to beta = 0");
    }

    @Test
    void backwardWithoutTrainingForwardAndWrongChannelCountAreExplained() {
        BatchNormalization plainConf = new BatchNormalization.Builder().nIn(C).nOut(C).build();
        LayerWorkspaceMgr workspaces = LayerWorkspaceMgr.noWorkspaces();
        SyncBatchNormalizationLayer layer = (SyncBatchNormalizationLayer) standaloneLayer(
                SyncBatchNormalization.from(plainConf), DataType.FLOAT, null);
        layer.setInput(Nd4j.rand(DataType.FLOAT, 4, C), workspaces);
        IllegalStateException noForward = assertThrows(IllegalStateException.class,
                () -> layer.backpropGradient(Nd4j.rand(DataType.FLOAT, 4, C), workspaces));
        assertTrue(noForward.getMessage().contains("without a preceding training forward"), noForward.getMessage());

        layer.setInput(Nd4j.rand(DataType.FLOAT, 4, C + 1), workspaces);
        IllegalArgumentException wrongChannels = assertThrows(IllegalArgumentException.class,
                () -> layer.activate(true, workspaces));
        assertTrue(wrongChannels.getMessage().contains("nOut=" + C), wrongChannels.getMessage());
    }

    @Test
    void layerLevelParticipationWithoutDataMatchesAnEmptyInput() throws Exception {
        Nd4j.getRandom().setSeed(5);
        BatchNormalization plainConf = new BatchNormalization.Builder().nIn(C).nOut(C).decay(DECAY).build();
        INDArray initial = randomInitialParams(plainConf, DataType.DOUBLE);
        INDArray input = randomActivations(Layout.NC, 6, 1.0, 2.0);
        INDArray epsilon = randomActivations(Layout.NC, 6, 0.0, 1.0);
        SyncBatchNormalization syncConf = SyncBatchNormalization.from(plainConf);
        ThreadCollectives group = ThreadCollectives.create(2, 30_000);
        List<double[]> gradients = group.runOnAllRanks(60_000, collective -> {
            LayerWorkspaceMgr workspaces = LayerWorkspaceMgr.noWorkspaces();
            SyncBatchNormalizationLayer layer = (SyncBatchNormalizationLayer) standaloneLayer(
                    syncConf, DataType.DOUBLE, initial);
            layer.attach(collective);
            if (collective.rank() == 0) {
                layer.setInput(input, workspaces);
                layer.activate(true, workspaces);
                return values(layer.backpropGradient(epsilon, workspaces).getFirst().gradient());
            }
            layer.forwardWithoutData();
            return values(layer.backwardWithoutData().gradient());
        });
        double[] withData = gradients.get(0);
        double[] withoutData = gradients.get(1);
        // Layout: gamma [0,C), beta [C,2C), then the running-statistic slots.
        assertArrayEquals(new double[2 * C], Arrays.copyOfRange(withoutData, 0, 2 * C), 0.0, "no data: zero dγ, dβ");
        assertArrayEquals(Arrays.copyOfRange(withData, 2 * C, 4 * C), Arrays.copyOfRange(withoutData, 2 * C, 4 * C), 0.0,
                "running-statistic slots identical with and without data");
    }

    record RankResult(INDArray out, INDArray dx, Map<String, INDArray> gradient, long communications) {
    }

    static BatchNormalization plainConf(Case c) {
        BatchNormalization.Builder builder = new BatchNormalization.Builder().nIn(C).nOut(C).decay(DECAY)
                .useLogStd(c.logStd).lockGammaBeta(!c.affine)
                .dataFormat(c.layout == Layout.NHWC ? CNN2DFormat.NHWC : CNN2DFormat.NCHW);
        if (!c.affine) {
            // DL4J applies a locked gamma/beta only when both differ from 1/0.
            builder.gamma(1.5).beta(-0.25);
        }
        return builder.build();
    }

    static String varianceKey(Case c) {
        return c.logStd ? BatchNormalizationParamInitializer.GLOBAL_LOG_STD : BatchNormalizationParamInitializer.GLOBAL_VAR;
    }

    /** γ, β, running mean and running variance all different from their defaults, so every term is exercised. */
    static INDArray randomInitialParams(BatchNormalization conf, DataType type) {
        Layer layer = standaloneLayer(conf, type, null);
        for (Map.Entry<String, INDArray> entry : layer.paramTable().entrySet()) {
            INDArray noise = Nd4j.rand(DataType.DOUBLE, entry.getValue().shape());
            INDArray value;
            switch (entry.getKey()) {
                case BatchNormalizationParamInitializer.GAMMA -> value = noise.mul(0.8).addi(0.6);
                case BatchNormalizationParamInitializer.BETA -> value = noise.mul(0.6).subi(0.3);
                case BatchNormalizationParamInitializer.GLOBAL_MEAN -> value = noise.mul(4.0).subi(1.0);
                case BatchNormalizationParamInitializer.GLOBAL_VAR -> value = noise.mul(3.0).addi(0.5);
                case BatchNormalizationParamInitializer.GLOBAL_LOG_STD -> value = noise.mul(0.8).subi(0.4);
                default -> throw new IllegalStateException("unexpected BatchNorm parameter " + entry.getKey());
            }
            entry.getValue().assign(value.castTo(type));
        }
        return layer.params().dup();
    }

    /** Batch of {@code batch} examples in DOUBLE, mean {@code mean}, std {@code std} plus a per-channel offset. */
    static INDArray randomActivations(Layout layout, int batch, double mean, double std) {
        long[] shape = switch (layout) {
            case NC -> new long[] {batch, C};
            case NCHW -> new long[] {batch, C, H, W};
            case NHWC -> new long[] {batch, H, W, C};
        };
        if (batch == 0) {
            return Nd4j.create(DataType.DOUBLE, shape);
        }
        return Nd4j.randn(DataType.DOUBLE, shape).muli(std).addi(mean);
    }

    static int[] reductionDims(Layout layout) {
        return switch (layout) {
            case NC -> new int[] {0};
            case NCHW -> new int[] {0, 2, 3};
            case NHWC -> new int[] {0, 1, 2};
        };
    }

    static INDArray rows(INDArray array, int start, int end) {
        long[] shape = array.shape().clone();
        if (start == end) {
            shape[0] = 0;
            return Nd4j.create(array.dataType(), shape);
        }
        INDArrayIndex[] index = new INDArrayIndex[array.rank()];
        index[0] = NDArrayIndex.interval(start, end);
        for (int i = 1; i < index.length; i++) {
            index[i] = NDArrayIndex.all();
        }
        return array.get(index);
    }

    static Map<String, INDArray> copy(Gradient gradient) {
        Map<String, INDArray> copy = new LinkedHashMap<>();
        for (Map.Entry<String, INDArray> entry : gradient.gradientForVariable().entrySet()) {
            copy.put(entry.getKey(), entry.getValue().dup());
        }
        return copy;
    }
}
