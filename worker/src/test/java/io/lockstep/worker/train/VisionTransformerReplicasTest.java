package io.lockstep.worker.train;

import io.lockstep.models.Normalization;
import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.testing.ThreadCollectives;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The small Vision Transformer (its transformer layers are Lockstep's own) trains with 2 replicas
 * exchanging gradients: the replicas stay bit-identical and match one replica with the global batch.
 * Tiny input (1x8x8: four 4x4 patches plus the class token) to keep the test fast.
 */
class VisionTransformerReplicasTest {
    private static final int B = 4;
    private static final int STEPS = 2;
    private static final ModelRecipe VIT = new ModelRecipe("vit_small", 10, 1, 8, 8, Normalization.BATCH, 7L,
            Optimizer.ADAM, 1e-3, 1e-4);

    private static List<DataSet> globalBatches(int replicas) {
        Nd4j.getRandom().setSeed(321);
        List<DataSet> batches = new ArrayList<>();
        for (int s = 0; s < STEPS; s++) {
            INDArray features = Nd4j.rand(DataType.FLOAT, replicas * B, 1, 8, 8);
            INDArray labels = Nd4j.zeros(DataType.FLOAT, replicas * B, 10);
            for (int i = 0; i < replicas * B; i++) {
                labels.putScalar(i, (i * 3 + s) % 10, 1f);
            }
            batches.add(new DataSet(features, labels));
        }
        return batches;
    }


    @Test
    void twoReplicasMatchOneReplicaWithTheGlobalBatch() throws Exception {
        int replicas = 2;
        List<DataSet> global = globalBatches(replicas);
        LearningRateSchedule schedule = new LearningRateSchedule(VIT.learningRate(), LearningRateSchedule.Scaling.NONE, 1, 0, STEPS);

        ComputationGraph single = VIT.build();
        float[] initial = single.params().toFloatVector();
        new ReplicaTrainer(single, null, GradientExchange.none(), schedule, 0, 60_000)
                .trainEpoch(0, ReplicaSlices.source(global, 0, replicas * B), StepObserver.NONE);
        float[] expected = single.params().toFloatVector();

        List<float[]> params = ThreadCollectives.create(replicas, 60_000).runOnAllRanks(300_000, (Collective collective) -> {
            ComputationGraph graph = VIT.build();
            new ReplicaTrainer(graph, collective, new AllReduceExchange(collective), schedule, 1, 60_000)
                    .trainEpoch(0, ReplicaSlices.source(global, collective.rank(), B), StepObserver.NONE);
            return graph.params().toFloatVector();
        });
        assertArrayEquals(params.get(0), params.get(1), "replicas are bit-identical");
        double maxDiff = 0;
        double maxMove = 0;
        for (int i = 0; i < expected.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(expected[i] - params.get(0)[i]));
            maxMove = Math.max(maxMove, Math.abs(expected[i] - initial[i]));
        }
        assertTrue(maxMove > 1e-4, "training moved the parameters (max move " + maxMove + ")");
        // Adam normalizes each step, so float differences of the averaged gradient show up at ~1e-6.
        assertTrue(maxDiff < 1e-4, "max |difference| to one replica with the global batch: " + maxDiff + " (move " + maxMove + ")");
    }
}
