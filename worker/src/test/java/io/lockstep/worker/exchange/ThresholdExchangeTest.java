package io.lockstep.worker.exchange;

import io.lockstep.models.InputShape;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.worker.testing.ThreadCollectives;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ThresholdExchangeTest {
    private static final Logger LOG = LoggerFactory.getLogger(ThresholdExchangeTest.class);
    private static final int REPLICAS = 2;
    private static final long DEADLINE_MS = 120_000;

    private static float[] gaussian(int length, double scale, long seed) {
        Random random = new Random(seed);
        float[] values = new float[length];
        for (int i = 0; i < length; i++) {
            values[i] = (float) (random.nextGaussian() * scale);
        }
        return values;
    }

    /** What replica r sends for v at τ: sign(v)·τ where |v| >= τ. */
    private static float[] sent(float[] v, float tau) {
        float[] s = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            if (Math.abs(v[i]) >= tau) {
                s[i] = v[i] > 0 ? tau : -tau;
            }
        }
        return s;
    }

    private record StepResult(float[] gradientIn, float[] gradientOut, float threshold, Map<String, Double> metrics,
                              long bytesSent) {
    }

    @Test
    void everyReplicaReceivesTheAverageOfTheDecodedUpdatesAndKeepsItsResidual() throws Exception {
        int length = 20_000;
        int steps = 3;
        ThreadCollectives group = ThreadCollectives.create(REPLICAS, 30_000);
        List<List<StepResult>> results = group.runOnAllRanks(DEADLINE_MS, collective -> {
            int rank = collective.rank();
            ThresholdExchange exchange = new ThresholdExchange(collective, ExchangeSettings.defaults());
            List<StepResult> perStep = new java.util.ArrayList<>();
            for (int step = 0; step < steps; step++) {
                collective.position(0, step);
                // Replicas see gradients of different scales, so they choose different τ.
                float[] values = gaussian(length, rank == 0 ? 1.0 : 0.05, 100L * rank + step);
                INDArray gradient = Nd4j.create(values, new long[] {1, length});
                exchange.exchange(gradient, 0, step);
                perStep.add(new StepResult(values, gradient.toFloatVector(), exchange.threshold(),
                        exchange.lastStepMetrics(), exchange.lastBytesSent()));
            }
            return perStep;
        });

        float[][] residual = new float[REPLICAS][length];
        for (int step = 0; step < steps; step++) {
            float[][] sent = new float[REPLICAS][];
            int[] counts = new int[REPLICAS];
            for (int rank = 0; rank < REPLICAS; rank++) {
                StepResult r = results.get(rank).get(step);
                float[] v = new float[length];
                for (int i = 0; i < length; i++) {
                    v[i] = residual[rank][i] + r.gradientIn()[i];
                }
                sent[rank] = sent(v, r.threshold());
                for (int i = 0; i < length; i++) {
                    residual[rank][i] = v[i] - sent[rank][i];
                    counts[rank] += sent[rank][i] != 0 ? 1 : 0;
                }
                double own = (double) counts[rank] / length;
                assertTrue(own >= 1e-3 && own <= 1e-2, "rank " + rank + " step " + step + " sent fraction " + own);
                assertEquals(own, r.metrics().get("own_sent_fraction"), 1e-12);
                int messageBytes = ThresholdCodec.HEADER_BYTES + 4 * counts[rank];
                assertEquals((double) 4 * length / messageBytes, r.metrics().get("compression_ratio"), 1e-9);
                assertEquals((long) messageBytes * (REPLICAS - 1), r.bytesSent());
            }
            assertTrue(results.get(0).get(step).threshold() > 10 * results.get(1).get(step).threshold(),
                    "τ is per replica");
            for (int rank = 0; rank < REPLICAS; rank++) {
                StepResult r = results.get(rank).get(step);
                for (int i = 0; i < length; i++) {
                    float expected = (sent[0][i] + sent[1][i]) / REPLICAS;
                    assertEquals(expected, r.gradientOut()[i], "rank " + rank + " step " + step + " entry " + i);
                }
                assertEquals((double) (counts[0] + counts[1]) / (REPLICAS * length), r.metrics().get("sent_fraction"), 1e-12);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"adaptive", "bitmap"})
    void parametersAndUpdaterStateStayIdenticalAfterEveryStep(String mode) throws Exception {
        int steps = 8;
        ExchangeSettings settings = mode.equals("adaptive") ? ExchangeSettings.defaults()
                // A fixed tiny τ sends nearly every entry, which takes the bitmap form.
                : ExchangeSettings.defaults().withThresholdInitial(1e-9).withThresholdSentFraction(0, 1);
        float[][][] snapshots = new float[REPLICAS][steps][];
        double[][] bitmap = new double[REPLICAS][steps];
        float[][] initial = new float[REPLICAS][];
        ThreadCollectives group = ThreadCollectives.create(REPLICAS, 30_000);
        group.runOnAllRanks(DEADLINE_MS, collective -> {
            int rank = collective.rank();
            ComputationGraph graph = ReplicaLoop.convWithBatchNorm(new Nesterovs(0.1, 0.9));
            initial[rank] = graph.params().toFloatVector();
            ThresholdExchange exchange = new ThresholdExchange(collective, settings);
            ReplicaLoop.train(graph, collective, exchange, steps,
                    (r, s) -> ReplicaLoop.batch(r, s, 8, ReplicaLoop.CLASSES, 1, 8, 8),
                    ParameterAveragingExchangeTest.afterEachStep((step, g) -> {
                        snapshots[rank][step] = ReplicaLoop.paramsAndUpdaterState(g);
                        bitmap[rank][step] = exchange.lastStepMetrics().get("bitmap");
                        assertTrue(exchange.replicasInSync());
                    }));
            return null;
        });
        for (int step = 0; step < steps; step++) {
            assertArrayEquals(snapshots[0][step], snapshots[1][step], mode + ": replicas differ after step " + step);
            for (int rank = 0; rank < REPLICAS; rank++) {
                assertEquals(mode.equals("bitmap") ? 1.0 : 0.0, bitmap[rank][step], "message form at step " + step);
            }
        }
        float[] finalParams = Arrays.copyOf(snapshots[0][steps - 1], initial[0].length);
        assertFalse(Arrays.equals(initial[0], finalParams), "training must move the parameters");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"lenet5", "resnet20"})
    void adaptiveThresholdKeepsTheSentFractionInRangeOnARealModel(String model) throws Exception {
        int steps = 30;
        int batch = 8;
        ExchangeSettings settings = ExchangeSettings.defaults();
        double[][] ownFraction = new double[REPLICAS][steps];
        double[][] globalFraction = new double[REPLICAS][steps];
        double[][] threshold = new double[REPLICAS][steps];
        double[][] compression = new double[REPLICAS][steps];
        long[][] bytes = new long[REPLICAS][steps];
        long[][] nanos = new long[REPLICAS][steps];
        long[][] checksums = new long[REPLICAS][steps];
        double[][] passes = new double[REPLICAS][steps];
        long[] parameters = new long[1];
        int[] batchNormStatistics = new int[1];
        ThreadCollectives group = ThreadCollectives.create(REPLICAS, 60_000);
        long start = System.nanoTime();
        group.runOnAllRanks(DEADLINE_MS, collective -> {
            int rank = collective.rank();
            ComputationGraph graph = ModelRegistry.build(model,
                    ModelOptions.of(10, new InputShape(1, 28, 28)).withUpdater(new Nesterovs(0.01, 0.9), 0));
            parameters[0] = graph.numParams();
            batchNormStatistics[0] = DenseRanges.batchNormStatistics(graph).total();
            ThresholdExchange exchange = new ThresholdExchange(collective, settings);
            ReplicaLoop.train(graph, collective, exchange, steps,
                    (r, s) -> ReplicaLoop.batch(r, s, batch, 10, 1, 28, 28),
                    ParameterAveragingExchangeTest.afterEachStep((step, g) -> {
                        Map<String, Double> metrics = exchange.lastStepMetrics();
                        ownFraction[rank][step] = metrics.get("own_sent_fraction");
                        globalFraction[rank][step] = metrics.get("sent_fraction");
                        threshold[rank][step] = metrics.get("threshold");
                        passes[rank][step] = metrics.get("threshold_passes");
                        compression[rank][step] = metrics.get("compression_ratio");
                        bytes[rank][step] = exchange.lastBytesSent();
                        nanos[rank][step] = exchange.lastExchangeNanos();
                        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
                        crc.update(g.params().data().asNio().duplicate());
                        checksums[rank][step] = crc.getValue();
                    }));
            return null;
        });
        long elapsedMs = (System.nanoTime() - start) / 1_000_000;

        double min = settings.thresholdMinSentFraction();
        double max = settings.thresholdMaxSentFraction();
        for (int step = 0; step < steps; step++) {
            assertEquals(checksums[0][step], checksums[1][step], "parameters differ after step " + step);
            for (int rank = 0; rank < REPLICAS; rank++) {
                String where = "rank " + rank + " step " + step;
                assertTrue(ownFraction[rank][step] >= min && ownFraction[rank][step] <= max,
                        where + ": sent fraction " + ownFraction[rank][step] + " at τ " + threshold[rank][step]);
                assertTrue(globalFraction[rank][step] >= min && globalFraction[rank][step] <= max, where);
                // At most max·n entries of 4 bytes, plus the header and the exact BatchNorm statistics,
                // against 4·n bytes for the dense float gradient.
                double worstBytes = ThresholdCodec.HEADER_BYTES + 4.0 * batchNormStatistics[0] + 4.0 * max * parameters[0];
                assertTrue(compression[rank][step] >= 4.0 * parameters[0] / worstBytes,
                        where + ": compression " + compression[rank][step]);
            }
        }
        LOG.info("{} threshold exchange, {} params ({} BatchNorm statistics sent exactly), {} replicas, {} steps in {} ms: bytes sent per step (rank 0) "
                        + "mean {}, compression mean {}, τ first {} last {}, τ search passes {}, exchange ms mean {} (includes waiting for the peer)",
                model, parameters[0], batchNormStatistics[0], REPLICAS, steps, elapsedMs,
                Arrays.stream(bytes[0]).average().orElse(0),
                Arrays.stream(compression[0]).average().orElse(0),
                threshold[0][0], threshold[0][steps - 1], Arrays.toString(passes[0]),
                Arrays.stream(nanos[0]).average().orElse(0) / 1e6);
    }

    @Test
    void batchNormRunningStatisticsBypassTheThresholdAndAreAveragedExactly() throws Exception {
        String[] statistics = {"bn_mean", "bn_log10stdev"};
        float[][] viaThreshold = firstStepParams(c -> new ThresholdExchange(c, ExchangeSettings.defaults()), statistics);
        float[][] viaAllReduce = firstStepParams(io.lockstep.worker.train.AllReduceExchange::new, statistics);
        for (int k = 0; k < statistics.length; k++) {
            // After step 0 the statistics depend only on the shared initial weights and each replica's batch.
            assertArrayEquals(viaAllReduce[k], viaThreshold[k], 1e-6f, statistics[k]);
        }
        float[][] weights = firstStepParams(c -> new ThresholdExchange(c, ExchangeSettings.defaults()), new String[] {"conv_W"});
        float[][] denseWeights = firstStepParams(io.lockstep.worker.train.AllReduceExchange::new, new String[] {"conv_W"});
        assertFalse(Arrays.equals(weights[0], denseWeights[0]), "weights do go through the threshold");
    }

    private static float[][] firstStepParams(
            java.util.function.Function<io.lockstep.worker.comm.Collective, io.lockstep.worker.train.GradientExchange> strategy,
            String[] keys) throws Exception {
        ThreadCollectives group = ThreadCollectives.create(REPLICAS, 30_000);
        List<float[][]> results = group.runOnAllRanks(DEADLINE_MS, collective -> {
            ComputationGraph graph = ReplicaLoop.convWithBatchNorm(new Nesterovs(0.1, 0.9));
            ReplicaLoop.train(graph, collective, strategy.apply(collective), 1,
                    (r, s) -> ReplicaLoop.batch(r, s, 8, ReplicaLoop.CLASSES, 1, 8, 8), ParameterAveragingExchangeTest.noHook());
            float[][] values = new float[keys.length][];
            for (int k = 0; k < keys.length; k++) {
                values[k] = graph.getParam(keys[k]).dup().reshape(-1).toFloatVector();
            }
            return values;
        });
        for (int k = 0; k < keys.length; k++) {
            assertArrayEquals(results.get(0)[k], results.get(1)[k], keys[k] + " identical on both replicas");
        }
        return results.get(0);
    }

    @Test
    void restoredStateContinuesExactlyLikeTheOriginal() throws Exception {
        int length = 5_000;
        ThreadCollectives group = ThreadCollectives.create(1, 30_000);
        group.runOnAllRanks(DEADLINE_MS, collective -> {
            ThresholdExchange original = new ThresholdExchange(collective, ExchangeSettings.defaults());
            for (int step = 0; step < 3; step++) {
                original.exchange(Nd4j.create(gaussian(length, 1.0, step), new long[] {1, length}), 0, step);
            }
            Map<String, float[]> saved = original.state();
            assertEquals(length, saved.get(ThresholdExchange.STATE_RESIDUAL).length);
            assertTrue(Arrays.stream(toDoubles(saved.get(ThresholdExchange.STATE_RESIDUAL))).anyMatch(x -> x != 0));

            ThresholdExchange restored = new ThresholdExchange(collective, ExchangeSettings.defaults().withThresholdInitial(7));
            restored.restore(saved);
            assertEquals(original.threshold(), restored.threshold());
            for (int step = 3; step < 6; step++) {
                float[] values = gaussian(length, 1.0, step);
                INDArray a = Nd4j.create(values, new long[] {1, length});
                INDArray b = Nd4j.create(values, new long[] {1, length});
                original.exchange(a, 0, step);
                restored.exchange(b, 0, step);
                assertArrayEquals(a.toFloatVector(), b.toFloatVector(), "step " + step);
            }
            assertArrayEquals(original.state().get(ThresholdExchange.STATE_RESIDUAL),
                    restored.state().get(ThresholdExchange.STATE_RESIDUAL));

            ThresholdExchange mismatched = new ThresholdExchange(collective, ExchangeSettings.defaults());
            mismatched.restore(saved);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> mismatched.exchange(Nd4j.create(new float[length + 1], new long[] {1, length + 1}), 0, 0));
            assertTrue(e.getMessage().contains("another model"), e.getMessage());
            return null;
        });
    }

    private static double[] toDoubles(float[] values) {
        double[] d = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            d[i] = values[i];
        }
        return d;
    }
}
