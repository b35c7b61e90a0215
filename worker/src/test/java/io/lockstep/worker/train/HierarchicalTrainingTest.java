package io.lockstep.worker.train;

import io.lockstep.models.Normalization;
import io.lockstep.worker.comm.AeronCollective;
import io.lockstep.worker.comm.AsyncCollective;
import io.lockstep.worker.comm.CollectiveConfig;
import io.lockstep.worker.comm.JobSecret;
import io.lockstep.worker.comm.ThreadRanks;
import io.lockstep.worker.nn.BatchNormSwap;
import io.lockstep.worker.nn.SyncBatchNorms;
import org.agrona.concurrent.SystemNanoClock;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Training with the hierarchical all-reduce keeps the contract of synchronous data parallelism. Four replicas run as two "hosts" of two in this JVM (each host its own media driver and
 * {@link CollectiveConfig#hostId()}; IPC within a host, UDP across), with synchronized BatchNorm and the
 * bucketed, overlapped exchange on the communication agent. A Spark job in local mode runs every replica on
 * one host, where the automatic choice is the flat ring, so the two-host case is checked here, at the
 * level of the replica trainer.
 */
class HierarchicalTrainingTest {
    private static final int B = 4;
    private static final int STEPS = 4;
    private static final int REPLICAS = 4;
    private static final long BUCKET_BYTES = 16 * 1024;
    private static final ModelRecipe LENET = new ModelRecipe("lenet5", 10, 1, 28, 28, Normalization.BATCH, 7L,
            Optimizer.NESTEROV, 0.02, 1e-4);

    @TempDir
    Path dir;

    private static List<DataSet> globalBatches() {
        Nd4j.getRandom().setSeed(99);
        List<DataSet> batches = new ArrayList<>();
        for (int s = 0; s < STEPS; s++) {
            INDArray features = Nd4j.rand(DataType.FLOAT, REPLICAS * B, 1, 28, 28);
            INDArray labels = Nd4j.zeros(DataType.FLOAT, REPLICAS * B, 10);
            for (int i = 0; i < REPLICAS * B; i++) {
                labels.putScalar(i, (i * 7 + s) % 10, 1f);
            }
            batches.add(new DataSet(features, labels));
        }
        return batches;
    }

    private static LearningRateSchedule schedule() {
        return new LearningRateSchedule(LENET.learningRate(), LearningRateSchedule.Scaling.NONE, 1, 0, STEPS);
    }

    /** What one replica does with its collective; returns its parameters. */
    private interface Replica {
        float[] train(AeronCollective collective) throws Exception;
    }

    /** Runs every replica on two hosts of two (ranks 0 and 2 on host-a, 1 and 3 on host-b). */
    private List<float[]> onTwoHosts(String jobId, Replica replica) throws Exception {
        List<CollectiveConfig> configs = new ArrayList<>();
        for (int rank = 0; rank < REPLICAS; rank++) {
            Path root = dir.resolve("drivers-" + (rank % 2));
            Files.createDirectories(root);
            configs.add(CollectiveConfig.builder().bindAddress("127.0.0.1").hostId(rank % 2 == 0 ? "host-a" : "host-b")
                    .driverDirectoryRoot(root.toString()).termLengthBytes(1024 * 1024).chunkBytes(4096)
                    .connectTimeoutMs(20_000).operationTimeoutMs(60_000).build());
        }
        JobSecret secret = JobSecret.derive("hier".getBytes(StandardCharsets.UTF_8), "test");
        try (ThreadRanks ranks = ThreadRanks.open(configs, jobId, secret, 0, SystemNanoClock.INSTANCE, 300_000,
                jobId + "-r")) {
            List<Future<float[]>> futures = new ArrayList<>();
            for (int rank = 0; rank < REPLICAS; rank++) {
                AeronCollective collective = ranks.rank(rank);
                assertTrue(collective.hostLayout().hierarchical(), collective.hostLayout().reason());
                futures.add(ranks.submit(rank, () -> replica.train(collective)));
            }
            List<float[]> params = new ArrayList<>();
            for (Future<float[]> future : futures) {
                params.add(ranks.await(future));
            }
            return params;
        }
    }

    /** Trains steps [first, first + batches) of epoch 0 with sync BN and the overlapped bucketed exchange. */
    private static float[] train(ComputationGraph graph, AeronCollective plain, List<DataSet> batches, int first)
            throws Exception {
        try (AsyncCollective collective = new AsyncCollective(plain, 120_000, "comm-r" + plain.rank())) {
            SyncBatchNorms.attach(graph, collective);
            BucketedAllReduceExchange exchange = new BucketedAllReduceExchange(collective, BUCKET_BYTES, true, Set.of());
            new ReplicaTrainer(graph, collective, exchange, schedule(), 2, 60_000)
                    .trainEpoch(0, first, ReplicaSlices.source(batches, plain.rank(), B), StepObserver.NONE,
                            ReplicaTrainer.StepHook.NONE);
            return graph.params().toFloatVector();
        }
    }

    @Test
    void twoHostsOfTwoMatchOneReplicaWithTheGlobalBatch() throws Exception {
        List<DataSet> global = globalBatches();
        ComputationGraph single = BatchNormSwap.toSync(LENET.build());
        new ReplicaTrainer(single, null, GradientExchange.none(), schedule(), 0, 60_000)
                .trainEpoch(0, ReplicaSlices.source(global, 0, REPLICAS * B), StepObserver.NONE);
        float[] expected = single.params().toFloatVector();

        List<float[]> straight = onTwoHosts("hier-straight", c -> train(BatchNormSwap.toSync(LENET.build()), c, global, 0));
        for (int rank = 1; rank < REPLICAS; rank++) {
            assertArrayEquals(straight.get(0), straight.get(rank), "replica " + rank + " is bit-identical to replica 0");
        }
        float[] initial = BatchNormSwap.toSync(LENET.build()).params().toFloatVector();
        double maxDiff = 0;
        double maxMove = 0;
        for (int i = 0; i < expected.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(expected[i] - straight.get(0)[i]));
            maxMove = Math.max(maxMove, Math.abs(expected[i] - initial[i]));
        }
        assertTrue(maxMove > 1e-3, "training moved the parameters (max move " + maxMove + ")");
        assertTrue(maxDiff < 1e-5, "4 replicas x B on 2 hosts vs 1 replica x 4B: max |difference| " + maxDiff);
    }
}
