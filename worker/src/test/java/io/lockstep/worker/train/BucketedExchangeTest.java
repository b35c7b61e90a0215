package io.lockstep.worker.train;

import io.lockstep.models.Normalization;
import io.lockstep.worker.comm.AsyncCollective;
import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.WireCompression;
import io.lockstep.worker.nn.BatchNormSwap;
import io.lockstep.worker.nn.SyncBatchNorms;
import io.lockstep.worker.testing.ThreadCollectives;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.dataset.DataSet;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bucketed all-reduce on the communication agent, after backward and overlapped with it, keeps the
 * contract of synchronous data parallelism: replicas bit-identical and equal to one replica with the
 * global batch; and with overlap on, buckets really leave while backward is still running.
 */
class BucketedExchangeTest {
    private static final int B = 8;
    private static final int STEPS = 4;
    private static final int REPLICAS = 2;
    /** Small enough that lenet5's 60k parameters make several buckets. */
    private static final long BUCKET_BYTES = 16 * 1024;

    private static ModelRecipe lenet(Normalization normalization) {
        return new ModelRecipe("lenet5", 10, 1, 28, 28, normalization, 7L, Optimizer.NESTEROV, 0.02, 1e-4);
    }

    private static List<DataSet> globalBatches() {
        return SyntheticBatches.global(123, STEPS, REPLICAS * B, 1, 28, 10);
    }

    private static LearningRateSchedule schedule(ModelRecipe recipe) {
        return SyntheticBatches.constantRate(recipe, STEPS);
    }

    private static ComputationGraph model(ModelRecipe recipe, boolean syncBatchNorm) {
        ComputationGraph graph = recipe.build();
        return syncBatchNorm ? BatchNormSwap.toSync(graph, false) : graph;
    }

    @ParameterizedTest(name = "normalization {0}, overlap {1}")
    @CsvSource({"NONE, false", "NONE, true", "BATCH, true"})
    void replicasMatchOneReplicaWithTheGlobalBatch(Normalization normalization, boolean overlap) throws Exception {
        ModelRecipe recipe = lenet(normalization);
        boolean syncBatchNorm = normalization == Normalization.BATCH;
        List<DataSet> global = globalBatches();

        ComputationGraph single = model(recipe, syncBatchNorm);
        new ReplicaTrainer(single, null, GradientExchange.none(), schedule(recipe), 0, 60_000)
                .trainEpoch(0, ReplicaSlices.source(global, 0, REPLICAS * B), StepObserver.NONE);
        float[] expected = single.params().toFloatVector();

        ThreadCollectives group = ThreadCollectives.create(REPLICAS, 60_000);
        List<float[]> params = group.runOnAllRanks(300_000, (Collective plain) -> {
            try (AsyncCollective collective = new AsyncCollective(plain, 120_000, "comm-r" + plain.rank())) {
                ComputationGraph graph = model(recipe, syncBatchNorm);
                if (syncBatchNorm) {
                    SyncBatchNorms.attach(graph, collective);
                }
                BucketedAllReduceExchange exchange = new BucketedAllReduceExchange(collective, BUCKET_BYTES, overlap,
                        Set.of());
                ReplicaTrainer trainer = new ReplicaTrainer(graph, collective, exchange, schedule(recipe), 2, 60_000);
                assertTrue(exchange.buckets().size() > 2, "several buckets: " + exchange.buckets());
                EpochReport report = trainer.trainEpoch(0, ReplicaSlices.source(global, collective.rank(), B),
                        StepObserver.NONE);
                assertEquals(STEPS, report.steps());
                return graph.params().toFloatVector();
            }
        });
        assertArrayEquals(params.get(0), params.get(1), "replicas are bit-identical");
        float[] actual = params.get(0);
        float[] initial = model(recipe, syncBatchNorm).params().toFloatVector();
        double maxDiff = 0;
        double maxMove = 0;
        for (int i = 0; i < expected.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(expected[i] - actual[i]));
            maxMove = Math.max(maxMove, Math.abs(expected[i] - initial[i]));
        }
        assertTrue(maxMove > 1e-3, "training moved the parameters (max move " + maxMove + ")");
        assertTrue(maxDiff < 1e-5, "max |difference| to one replica with the global batch: " + maxDiff);
    }

    @Test
    void withOverlapBucketsLeaveBeforeBackwardReachesTheFirstLayer() throws Exception {
        ModelRecipe recipe = lenet(Normalization.NONE);
        List<DataSet> global = globalBatches().subList(0, 1);
        ThreadCollectives group = ThreadCollectives.create(REPLICAS, 60_000);
        List<List<int[]>> submissions = group.runOnAllRanks(300_000, (Collective plain) -> {
            try (AsyncCollective collective = new AsyncCollective(plain, 120_000, "comm-r" + plain.rank())) {
                ComputationGraph graph = recipe.build();
                List<int[]> seen = Collections.synchronizedList(new ArrayList<>());
                BucketedAllReduceExchange exchange = new BucketedAllReduceExchange(collective, BUCKET_BYTES, true, Set.of(),
                        WireCompression.NONE, (bucket, position) -> seen.add(new int[]{bucket, position}));
                new ReplicaTrainer(graph, collective, exchange, schedule(recipe), 0, 60_000)
                        .trainEpoch(0, ReplicaSlices.source(global, collective.rank(), B), StepObserver.NONE);
                int firstLayer = exchange.buckets().get(exchange.buckets().size() - 1).readyAt();
                seen.add(new int[]{-1, firstLayer});
                return seen;
            }
        });
        for (List<int[]> seen : submissions) {
            int firstLayer = seen.remove(seen.size() - 1)[1];
            assertTrue(seen.size() > 2, "several buckets submitted");
            for (int i = 0; i < seen.size(); i++) {
                assertEquals(i, seen.get(i)[0], "buckets are submitted in order");
            }
            // Position -1 means "after backward"; a higher position means from inside backward.
            int first = seen.get(0)[1];
            assertTrue(first > firstLayer, "the first bucket left at topological position " + first
                    + ", before backward reached the first layer (position " + firstLayer + ")");
        }
    }

    @Test
    void bucketsCoverEveryTrainableLayerOnceInReverseOrder() {
        ComputationGraph graph = lenet(Normalization.BATCH).build();
        String frozen = java.util.Arrays.stream(graph.getLayers()).filter(layer -> layer.numParams() > 0).skip(1)
                .findFirst().orElseThrow().conf().getLayer().getLayerName();
        long frozenParams = graph.getLayer(frozen).numParams();
        List<BucketedAllReduceExchange.Bucket> buckets = BucketedAllReduceExchange.cut(graph, BUCKET_BYTES / 4,
                Set.of(frozen));
        long covered = 0;
        long previousStart = Long.MAX_VALUE;
        for (int i = 0; i < buckets.size(); i++) {
            BucketedAllReduceExchange.Bucket bucket = buckets.get(i);
            assertTrue(bucket.start() + bucket.length() <= previousStart, "bucket " + i + " overlaps or is out of order");
            previousStart = bucket.start();
            covered += bucket.length();
        }
        assertEquals(graph.numParams() - frozenParams, covered, "every trainable parameter is in exactly one bucket");
        assertTrue(frozenParams > 0);
    }

    @Test
    void theOptionsChooseTheAgentAndTheBucketedExchangeOnlyForAllReduceWithOverlap() throws Exception {
        io.lockstep.worker.exchange.ExchangeSettings off = io.lockstep.worker.exchange.ExchangeSettings.defaults();
        io.lockstep.worker.exchange.ExchangeSettings on = off.withOverlap(true, BUCKET_BYTES);
        Collective plain = ThreadCollectives.create(2, 1_000).rank(0);
        assertSame(plain, io.lockstep.worker.exchange.ExchangeStrategies.communication("allreduce", off, plain, 1_000));
        assertSame(plain, io.lockstep.worker.exchange.ExchangeStrategies.communication("threshold", on, plain, 1_000));
        assertInstanceOf(AllReduceExchange.class, io.lockstep.worker.exchange.ExchangeStrategies.create("allreduce", off, plain));
        IllegalArgumentException unwrapped = assertThrows(IllegalArgumentException.class,
                () -> io.lockstep.worker.exchange.ExchangeStrategies.create("allreduce", on, plain));
        assertTrue(unwrapped.getMessage().contains("--overlap on"), unwrapped.getMessage());
        try (Collective agent = io.lockstep.worker.exchange.ExchangeStrategies.communication(" AllReduce ", on, plain, 1_000)) {
            assertInstanceOf(AsyncCollective.class, agent);
            assertInstanceOf(BucketedAllReduceExchange.class,
                    io.lockstep.worker.exchange.ExchangeStrategies.create("allreduce", on, agent, Set.of("conv1"), io.lockstep.worker.comm.WireCompression.NONE));
        }
        IllegalArgumentException tooSmall = assertThrows(IllegalArgumentException.class, () -> off.withOverlap(true, 0));
        assertTrue(tooSmall.getMessage().contains("--bucket-size"), tooSmall.getMessage());
    }
}
