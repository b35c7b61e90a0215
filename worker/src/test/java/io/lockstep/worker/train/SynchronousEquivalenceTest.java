package io.lockstep.worker.train;

import io.lockstep.models.Normalization;
import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.testing.ThreadCollectives;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The contract of synchronous data parallelism: N replicas with batch B each, averaging gradients
 * with the all-reduce, end with the same parameters (to float tolerance) as one replica with batch
 * N·B on the same samples in the same order; and the replicas stay bit-for-bit identical.
 */
class SynchronousEquivalenceTest {
    private static final int B = 8;
    private static final int STEPS = 6;
    private static final ModelRecipe LENET = new ModelRecipe("lenet5", 10, 1, 28, 28, Normalization.BATCH, 7L,
            Optimizer.NESTEROV, 0.02, 1e-4);

    /** Fixed global batches: step s uses rows [s·N·B, (s+1)·N·B). */
    private static List<DataSet> globalBatches(int replicas) {
        Nd4j.getRandom().setSeed(123);
        List<DataSet> batches = new ArrayList<>();
        for (int s = 0; s < STEPS; s++) {
            INDArray features = Nd4j.rand(DataType.FLOAT, replicas * B, 1, 28, 28);
            INDArray labels = Nd4j.zeros(DataType.FLOAT, replicas * B, 10);
            for (int i = 0; i < replicas * B; i++) {
                labels.putScalar(i, (i * 7 + s) % 10, 1f);
            }
            batches.add(new DataSet(features, labels));
        }
        return batches;
    }

    private static BatchSource source(List<DataSet> global, int replica, int batch) {
        return new BatchSource() {
            @Override
            public int steps() {
                return global.size();
            }

            @Override
            public DataSet batch(int step) {
                DataSet g = global.get(step);
                INDArrayIndex rows = NDArrayIndex.interval((long) replica * batch, (long) (replica + 1) * batch);
                return new DataSet(g.getFeatures().get(rows, NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all()).dup(),
                        g.getLabels().get(rows, NDArrayIndex.all()).dup());
            }
        };
    }

    private static LearningRateSchedule schedule(int steps) {
        return new LearningRateSchedule(LENET.learningRate(), LearningRateSchedule.Scaling.NONE, 1, 0, steps);
    }

    @ParameterizedTest(name = "{0} replicas")
    @ValueSource(ints = {2, 3})
    void replicasMatchOneReplicaWithTheGlobalBatch(int replicas) throws Exception {
        List<DataSet> global = globalBatches(replicas);

        ComputationGraph single = LENET.build();
        ReplicaTrainer reference = new ReplicaTrainer(single, null, GradientExchange.none(), schedule(STEPS), 0, 60_000);
        reference.trainEpoch(0, source(global, 0, replicas * B), StepObserver.NONE);
        float[] expected = single.params().toFloatVector();

        ThreadCollectives group = ThreadCollectives.create(replicas, 60_000);
        List<float[]> params = group.runOnAllRanks(300_000, (Collective collective) -> {
            ComputationGraph graph = LENET.build();
            ReplicaTrainer trainer = new ReplicaTrainer(graph, collective, new AllReduceExchange(collective),
                    schedule(STEPS), 2, 60_000);
            EpochReport report = trainer.trainEpoch(0, source(global, collective.rank(), B), StepObserver.NONE);
            assertEquals(STEPS, report.steps());
            assertTrue(report.bytesSent()[0] > 0, "the all-reduce sent bytes");
            return graph.params().toFloatVector();
        });

        for (int r = 1; r < replicas; r++) {
            assertArrayEquals(params.get(0), params.get(r), "replica " + r + " is bit-identical to replica 0");
        }
        float[] actual = params.get(0);
        double maxDiff = 0;
        double maxMove = 0;
        float[] initial = LENET.build().params().toFloatVector();
        for (int i = 0; i < expected.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(expected[i] - actual[i]));
            maxMove = Math.max(maxMove, Math.abs(expected[i] - initial[i]));
        }
        assertTrue(maxMove > 1e-3, "training moved the parameters (max move " + maxMove + ")");
        assertTrue(maxDiff < 1e-5, "max |difference| to one replica with the global batch: " + maxDiff);
    }
}
