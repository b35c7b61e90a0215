package io.lockstep.worker.train;

import io.lockstep.models.Normalization;
import io.lockstep.worker.comm.AeronCollective;
import io.lockstep.worker.comm.AsyncCollective;
import io.lockstep.worker.comm.CollectiveConfig;
import io.lockstep.worker.nn.BatchNormSwap;
import io.lockstep.worker.nn.SyncBatchNorms;
import io.lockstep.worker.testing.TwoHosts;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.dataset.DataSet;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Training with the hierarchical all-reduce keeps the contract of synchronous data parallelism. Four replicas
 * run as two "hosts" of two in this JVM ({@link TwoHosts}: each host its own media driver and
 * {@link CollectiveConfig#hostId()}; IPC within a host, UDP across), with synchronized BatchNorm and the
 * bucketed, overlapped exchange on the communication agent. A Spark job in local mode runs every replica on
 * one host, where the automatic choice is the flat ring, so the two-host case is checked here, at the
 * level of the replica trainer.
 */
class HierarchicalTrainingTest {
    private static final int B = 4;
    /**
     * Two steps: one replica and four agree to float rounding after the first (measured 1.2e-7 on this model,
     * flat ring and hierarchical alike), but on 8x8 noise images a deep BatchNorm network amplifies that
     * rounding step after step (6.8e-4 after four), which would hide what the comparison is for.
     */
    private static final int STEPS = 2;
    private static final int REPLICAS = TwoHosts.RANKS;
    /** Small enough that resnet20's 270k parameters leave in many buckets during backward. */
    private static final long BUCKET_BYTES = 64 * 1024;
    /** resnet20 (19 BatchNorm layers) on 8x8 images: small, and with BatchNorm to synchronize. */
    private static final ModelRecipe RESNET = new ModelRecipe("resnet20", 10, 1, 8, 8, Normalization.BATCH, 7L,
            Optimizer.NESTEROV, 0.02, 1e-4);

    @TempDir
    Path dir;

    private static List<DataSet> globalBatches() {
        return SyntheticBatches.global(99, STEPS, REPLICAS * B, 1, 8, 10);
    }

    /** Trains the epoch with sync BN and the overlapped bucketed exchange; returns the parameters. */
    private static float[] train(AeronCollective plain, List<DataSet> batches) throws Exception {
        try (AsyncCollective collective = new AsyncCollective(plain, TwoHosts.AGENT_STALL_MS, "comm-r" + plain.rank())) {
            ComputationGraph graph = BatchNormSwap.toSync(RESNET.build());
            assertTrue(SyncBatchNorms.attach(graph, collective) > 0, "the model has BatchNorm layers to synchronize");
            BucketedAllReduceExchange exchange = new BucketedAllReduceExchange(collective, BUCKET_BYTES, true, Set.of());
            new ReplicaTrainer(graph, collective, exchange, SyntheticBatches.constantRate(RESNET, STEPS), 2, 60_000)
                    .trainEpoch(0, ReplicaSlices.source(batches, plain.rank(), B), StepObserver.NONE);
            return graph.params().toFloatVector();
        }
    }

    @Test
    void twoHostsOfTwoMatchOneReplicaWithTheGlobalBatch() throws Exception {
        List<DataSet> global = globalBatches();
        ComputationGraph single = BatchNormSwap.toSync(RESNET.build());
        new ReplicaTrainer(single, null, GradientExchange.none(), SyntheticBatches.constantRate(RESNET, STEPS), 0, 60_000)
                .trainEpoch(0, ReplicaSlices.source(global, 0, REPLICAS * B), StepObserver.NONE);
        float[] expected = single.params().toFloatVector();

        List<float[]> straight = TwoHosts.run(dir, "hier-straight", 0, collective -> {
            assertTrue(collective.hostLayout().hierarchical(), collective.hostLayout().reason());
            return train(collective, global);
        });
        for (int rank = 1; rank < REPLICAS; rank++) {
            assertArrayEquals(straight.get(0), straight.get(rank), "replica " + rank + " is bit-identical to replica 0");
        }
        float[] initial = BatchNormSwap.toSync(RESNET.build()).params().toFloatVector();
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
