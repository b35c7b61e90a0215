package io.lockstep.worker.exchange;

import io.lockstep.worker.testing.ThreadCollectives;
import io.lockstep.worker.train.AllReduceExchange;
import io.lockstep.worker.train.GradientExchange;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.learning.config.Sgd;

import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ParameterAveragingExchangeTest {
    private static final int REPLICAS = 2;
    private static final long DEADLINE_MS = 120_000;
    private static final int BATCH = 8;

    private static ReplicaLoop.BatchSupplier images() {
        return (rank, step) -> ReplicaLoop.batch(rank, step, BATCH, ReplicaLoop.CLASSES, 1, 8, 8);
    }

    private static IUpdater updater(String name) {
        return switch (name) {
            case "sgd" -> new Sgd(0.1);
            case "nesterovs" -> new Nesterovs(0.1, 0.9);
            default -> throw new IllegalArgumentException(name);
        };
    }

    /** Trains both replicas and returns each one's params + updater state after the last step. */
    private static List<float[]> trainConvNet(String updaterName, int steps,
                                              Function<io.lockstep.worker.comm.Collective, GradientExchange> strategy)
            throws Exception {
        ThreadCollectives group = ThreadCollectives.create(REPLICAS, 30_000);
        return group.runOnAllRanks(DEADLINE_MS, collective -> {
            ComputationGraph graph = ReplicaLoop.convWithBatchNorm(updater(updaterName));
            ReplicaLoop.train(graph, collective, strategy.apply(collective), steps, images(), noHook());
            return ReplicaLoop.paramsAndUpdaterState(graph);
        });
    }

    @ParameterizedTest
    @ValueSource(strings = {"sgd", "nesterovs"})
    void averagingAfterEveryStepEqualsSynchronousGradientAveraging(String updaterName) throws Exception {
        int steps = 6;
        List<float[]> synchronous = trainConvNet(updaterName, steps, AllReduceExchange::new);
        List<float[]> averaged = trainConvNet(updaterName, steps, c -> new ParameterAveragingExchange(c,
                ExchangeSettings.defaults().withAverageEverySteps(1)));
        List<float[]> local = trainConvNet(updaterName, steps, c -> new ParameterAveragingExchange(c,
                ExchangeSettings.defaults().withAverageEverySteps(1000)));

        assertArrayEquals(averaged.get(0), averaged.get(1), "K=1 leaves replicas bit-identical");
        assertArrayEquals(synchronous.get(0), synchronous.get(1));
        float[] expected = synchronous.get(0);
        float[] actual = averaged.get(0);
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            float tolerance = 1e-5f + 1e-4f * Math.abs(expected[i]);
            assertEquals(expected[i], actual[i], tolerance, "params/updater state entry " + i + " (" + updaterName + ")");
        }
        // Power of the comparison: without averaging the replicas end far from the synchronous result.
        assertTrue(maxAbsDifference(expected, local.get(0)) > 1e-3,
                "local training without averaging should differ from synchronous training");
    }

    @Test
    void replicasAreIdenticalRightAfterEachRoundAndDifferBetweenRounds() throws Exception {
        int every = 3;
        int steps = 8;
        float[][][] snapshots = new float[REPLICAS][steps][];
        boolean[][] inSync = new boolean[REPLICAS][steps];
        long[][] bytes = new long[REPLICAS][steps];
        double[][] roundMetric = new double[REPLICAS][steps];
        long[] expectedRoundBytes = new long[REPLICAS];
        ThreadCollectives group = ThreadCollectives.create(REPLICAS, 30_000);
        List<float[]> finals = group.runOnAllRanks(DEADLINE_MS, collective -> {
            int rank = collective.rank();
            ComputationGraph graph = ReplicaLoop.convWithBatchNorm(new Nesterovs(0.1, 0.9));
            ParameterAveragingExchange exchange = new ParameterAveragingExchange(collective,
                    ExchangeSettings.defaults().withAverageEverySteps(every));
            ReplicaLoop.train(graph, collective, exchange, steps, images(), afterEachStep((step, g) -> {
                snapshots[rank][step] = ReplicaLoop.paramsAndUpdaterState(g);
                inSync[rank][step] = exchange.replicasInSync();
                bytes[rank][step] = exchange.lastBytesSent();
                roundMetric[rank][step] = exchange.lastStepMetrics().get("averaging_round");
            }));
            long stateLength = graph.getUpdater().getStateViewArray().length();
            assertTrue(stateLength > 0, "Nesterov momentum must have updater state to average");
            // Ring all-reduce: each rank sends 2(N-1)/N of the float buffer.
            expectedRoundBytes[rank] = 2L * (REPLICAS - 1) * (graph.numParams() + stateLength) * Float.BYTES / REPLICAS;
            exchange.synchronize(graph);
            assertTrue(exchange.replicasInSync());
            assertEquals(3, exchange.rounds(), "rounds after steps 2 and 5, plus the final synchronize");
            return ReplicaLoop.paramsAndUpdaterState(graph);
        });

        for (int step = 0; step < steps; step++) {
            boolean round = (step + 1) % every == 0;
            String where = "step " + step;
            if (round) {
                assertArrayEquals(snapshots[0][step], snapshots[1][step], where + ": round must leave replicas identical");
            } else {
                assertFalse(Arrays.equals(snapshots[0][step], snapshots[1][step]), where + ": local step on different data");
            }
            for (int rank = 0; rank < REPLICAS; rank++) {
                assertEquals(round, inSync[rank][step], where);
                assertEquals(round ? 1.0 : 0.0, roundMetric[rank][step], where);
                assertEquals(round ? expectedRoundBytes[rank] : 0L, bytes[rank][step], where);
            }
        }
        assertArrayEquals(finals.get(0), finals.get(1), "synchronize() makes replicas identical");
    }

    @Test
    void batchNormRunningStatisticsAreAveraged() throws Exception {
        int every = 2;
        int steps = 4;
        String[] keys = {"bn_mean", "bn_log10stdev", "bn_gamma", "conv_W"};
        float[][][][] before = new float[REPLICAS][steps][keys.length][];
        float[][][][] after = new float[REPLICAS][steps][keys.length][];
        ThreadCollectives group = ThreadCollectives.create(REPLICAS, 30_000);
        group.runOnAllRanks(DEADLINE_MS, collective -> {
            int rank = collective.rank();
            ComputationGraph graph = ReplicaLoop.convWithBatchNorm(new Sgd(0.1));
            ParameterAveragingExchange exchange = new ParameterAveragingExchange(collective,
                    ExchangeSettings.defaults().withAverageEverySteps(every));
            ReplicaLoop.train(graph, collective, exchange, steps, images(), new ReplicaLoop.StepHook() {
                @Override
                public void beforeAfterStep(int step, ComputationGraph g) {
                    before[rank][step] = params(g, keys);
                }

                @Override
                public void afterAfterStep(int step, ComputationGraph g) {
                    after[rank][step] = params(g, keys);
                }
            });
            return null;
        });

        for (int step = every - 1; step < steps; step += every) {
            for (int k = 0; k < keys.length; k++) {
                float[] a = before[0][step][k];
                float[] b = before[1][step][k];
                assertFalse(Arrays.equals(a, b), keys[k] + " must differ between replicas before the round at step " + step);
                for (int i = 0; i < a.length; i++) {
                    float mean = (a[i] + b[i]) / 2f;
                    for (int rank = 0; rank < REPLICAS; rank++) {
                        assertEquals(mean, after[rank][step][k][i], 2 * Math.ulp(mean),
                                keys[k] + "[" + i + "] on rank " + rank + " after the round at step " + step);
                    }
                }
            }
        }
    }

    @Test
    void warmupStepsAverageGradientsSynchronouslyThenLocalSgdStarts() throws Exception {
        int warmup = 3;
        int every = 2;
        int steps = 7;
        float[][][] snapshots = new float[REPLICAS][steps][];
        long[][] bytes = new long[REPLICAS][steps];
        double[][] synchronousMetric = new double[REPLICAS][steps];
        long[] params = new long[REPLICAS];
        long[] state = new long[REPLICAS];
        ThreadCollectives group = ThreadCollectives.create(REPLICAS, 30_000);
        group.runOnAllRanks(DEADLINE_MS, collective -> {
            int rank = collective.rank();
            ComputationGraph graph = ReplicaLoop.dense(new Nesterovs(0.05, 0.9));
            GradientExchange exchange = ExchangeStrategies.create("average",
                    ExchangeSettings.defaults().withAverageEverySteps(every).withAverageWarmupSteps(warmup), collective);
            ReplicaLoop.train(graph, collective, exchange, steps,
                    (r, s) -> ReplicaLoop.batch(r, s, BATCH, ReplicaLoop.CLASSES, 12), afterEachStep((step, g) -> {
                        snapshots[rank][step] = ReplicaLoop.paramsAndUpdaterState(g);
                        bytes[rank][step] = exchange.lastBytesSent();
                        synchronousMetric[rank][step] = exchange.lastStepMetrics().get("synchronous_step");
                    }));
            params[rank] = graph.numParams();
            state[rank] = graph.getUpdater().getStateViewArray().length();
            return null;
        });

        for (int step = 0; step < steps; step++) {
            boolean synchronous = step < warmup;
            boolean round = !synchronous && (step - warmup + 1) % every == 0;
            String where = "step " + step;
            if (synchronous || round) {
                assertArrayEquals(snapshots[0][step], snapshots[1][step], where);
            } else {
                assertFalse(Arrays.equals(snapshots[0][step], snapshots[1][step]), where);
            }
            for (int rank = 0; rank < REPLICAS; rank++) {
                long floats = synchronous ? params[rank] : round ? params[rank] + state[rank] : 0;
                assertEquals(2L * (REPLICAS - 1) * floats * Float.BYTES / REPLICAS, bytes[rank][step], where);
                assertEquals(synchronous ? 1.0 : 0.0, synchronousMetric[rank][step], where);
            }
        }
    }

    private static float[][] params(ComputationGraph graph, String[] keys) {
        float[][] values = new float[keys.length][];
        for (int k = 0; k < keys.length; k++) {
            values[k] = graph.getParam(keys[k]).dup().reshape(-1).toFloatVector();
        }
        return values;
    }

    private static double maxAbsDifference(float[] a, float[] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }

    @FunctionalInterface
    interface AfterStep {
        void accept(int step, ComputationGraph graph) throws Exception;
    }

    static ReplicaLoop.StepHook afterEachStep(AfterStep action) {
        return new ReplicaLoop.StepHook() {
            @Override
            public void beforeAfterStep(int step, ComputationGraph graph) {
            }

            @Override
            public void afterAfterStep(int step, ComputationGraph graph) throws Exception {
                action.accept(step, graph);
            }
        };
    }

    static ReplicaLoop.StepHook noHook() {
        return afterEachStep((step, graph) -> { });
    }
}
