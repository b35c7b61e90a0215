package io.lockstep.worker.train;

import io.lockstep.models.Normalization;
import io.lockstep.worker.comm.AeronCollective;
import io.lockstep.worker.comm.AsyncCollective;
import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.CollectiveConfig;
import io.lockstep.worker.comm.JobSecret;
import io.lockstep.worker.comm.ThreadRanks;
import io.lockstep.worker.comm.WireCompression;
import io.lockstep.worker.nn.BatchNormSwap;
import io.lockstep.worker.nn.SyncBatchNorms;
import org.agrona.concurrent.SystemNanoClock;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Gradients narrowed to bf16 on the wire, over real Aeron links with synchronized BatchNorm: every
 * rank still accumulates in fp32 in the same ring order, so the replicas stay bit-identical to each
 * other (BatchNorm statistics included), while the result stays close to the exact fp32 run and each
 * replica sends half the bytes — after backward, and in buckets overlapped with backward, which travel
 * narrowed straight from the gradient's own memory.
 */
class WireCompressionTrainingTest {
    private static final int B = 8;
    private static final int STEPS = 4;
    private static final ModelRecipe LENET = new ModelRecipe("lenet5", 10, 1, 28, 28, Normalization.BATCH, 7L,
            Optimizer.NESTEROV, 0.02, 1e-4);

    private record Outcome(float[] params, long bytesSent) {
    }

    private static List<DataSet> globalBatches() {
        Nd4j.getRandom().setSeed(321);
        List<DataSet> batches = new ArrayList<>();
        for (int s = 0; s < STEPS; s++) {
            INDArray features = Nd4j.rand(DataType.FLOAT, 2 * B, 1, 28, 28);
            INDArray labels = Nd4j.zeros(DataType.FLOAT, 2 * B, 10);
            for (int i = 0; i < 2 * B; i++) {
                labels.putScalar(i, (i * 3 + s) % 10, 1f);
            }
            batches.add(new DataSet(features, labels));
        }
        return batches;
    }

    /** Small enough that lenet5's gradient leaves in several buckets during backward. */
    private static final long BUCKET_BYTES = 16 * 1024;

    private static List<Outcome> train(WireCompression compression, boolean overlap, List<DataSet> global) throws Exception {
        CollectiveConfig config = CollectiveConfig.builder().bindAddress("127.0.0.1").termLengthBytes(1024 * 1024)
                .chunkBytes(4096).connectTimeoutMs(20_000).operationTimeoutMs(60_000).build();
        JobSecret secret = JobSecret.derive("bf16".getBytes(StandardCharsets.UTF_8), "test");
        LearningRateSchedule schedule = new LearningRateSchedule(LENET.learningRate(), LearningRateSchedule.Scaling.NONE,
                1, 0, STEPS);
        try (ThreadRanks ranks = ThreadRanks.open(2, config, "compression-" + compression + "-" + overlap, secret, 0,
                SystemNanoClock.INSTANCE, 120_000, "replica-")) {
            List<Future<Outcome>> futures = new ArrayList<>();
            for (int rank = 0; rank < ranks.size(); rank++) {
                AeronCollective aeron = ranks.rank(rank);
                futures.add(ranks.submit(rank, () -> {
                    AsyncCollective agent = overlap ? new AsyncCollective(aeron, 120_000, "comm-r" + aeron.rank()) : null;
                    try {
                        Collective collective = overlap ? agent : aeron;
                        ComputationGraph graph = BatchNormSwap.toSync(LENET.build());
                        SyncBatchNorms.attach(graph, collective);
                        GradientExchange exchange = overlap
                                ? new BucketedAllReduceExchange(agent, BUCKET_BYTES, true, Set.of(), compression)
                                : new AllReduceExchange(collective, compression);
                        EpochReport report = new ReplicaTrainer(graph, collective, exchange, schedule, 0, 60_000)
                                .trainEpoch(0, ReplicaSlices.source(global, collective.rank(), B), StepObserver.NONE);
                        return new Outcome(graph.params().toFloatVector(), report.bytesSent()[0]);
                    } finally {
                        if (agent != null) {
                            agent.close(); // closes the rank's collective too, as ThreadRanks would
                        }
                    }
                }));
            }
            List<Outcome> outcomes = new ArrayList<>();
            for (Future<Outcome> future : futures) {
                outcomes.add(ranks.await(future));
            }
            return outcomes;
        }
    }

    @ParameterizedTest(name = "overlap {0}")
    @ValueSource(booleans = {false, true})
    void bf16GradientsKeepReplicasIdenticalAndCloseToFp32(boolean overlap) throws Exception {
        List<DataSet> global = globalBatches();
        List<Outcome> exact = train(WireCompression.NONE, overlap, global);
        List<Outcome> bf16 = train(WireCompression.BF16, overlap, global);

        assertArrayEquals(exact.get(0).params(), exact.get(1).params(), "fp32: replicas are bit-identical");
        assertArrayEquals(bf16.get(0).params(), bf16.get(1).params(),
                "bf16: replicas are bit-identical, BatchNorm running statistics included");
        assertEquals(exact.get(0).bytesSent(), 2 * bf16.get(0).bytesSent(), "bf16 sends half the gradient bytes");

        float[] initial = BatchNormSwap.toSync(LENET.build()).params().toFloatVector();
        float[] reference = exact.get(0).params();
        float[] narrowed = bf16.get(0).params();
        double maxDiff = 0;
        double maxMove = 0;
        boolean differs = false;
        for (int i = 0; i < reference.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(reference[i] - narrowed[i]));
            maxMove = Math.max(maxMove, Math.abs(reference[i] - initial[i]));
            differs |= reference[i] != narrowed[i];
        }
        assertTrue(differs, "bf16 really narrowed the gradients");
        assertTrue(maxMove > 1e-3, "training moved the parameters (max move " + maxMove + ")");
        // bf16 keeps 8 significant bits: each averaged gradient is off by at most ~2^-8 of itself.
        assertTrue(maxDiff < 0.02 * maxMove, "bf16 vs fp32: max |difference| " + maxDiff + " after a maximal move of "
                + maxMove);
    }
}
