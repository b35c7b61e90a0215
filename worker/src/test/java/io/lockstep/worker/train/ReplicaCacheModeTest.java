package io.lockstep.worker.train;

import io.lockstep.models.Normalization;
import io.lockstep.worker.nn.BatchNormSwap;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * A replica keeps each convolution's forward output for its backward pass (DL4J's cache mode DEVICE)
 * instead of computing it again, and trains exactly the parameters it would without the cache.
 */
class ReplicaCacheModeTest {
    private static final ModelRecipe RESNET = new ModelRecipe("resnet20", 10, 1, 12, 12, Normalization.BATCH, 7L,
            Optimizer.NESTEROV, 0.05, 0);
    private static final int B = 8;
    private static final int STEPS = 3;

    @Test
    void replicaTrainsWithTheCacheAndGetsTheUncachedParameters() throws Exception {
        List<DataSet> batches = batches();

        ComputationGraph cached = BatchNormSwap.toSync(RESNET.build(), false);
        ReplicaTrainer withCache = new ReplicaTrainer(cached, null, GradientExchange.none(), schedule(), 0, 60_000);
        assertEquals(CacheMode.DEVICE, cached.getConfiguration().getCacheMode(), "a replica trains with the cache");
        withCache.trainEpoch(0, ReplicaSlices.source(batches, 0, B), StepObserver.NONE);

        ComputationGraph recomputed = BatchNormSwap.toSync(RESNET.build(), false);
        ReplicaTrainer withoutCache = new ReplicaTrainer(recomputed, null, GradientExchange.none(), schedule(), 0, 60_000);
        ReplicaTrainer.useCacheMode(recomputed, CacheMode.NONE);
        withoutCache.trainEpoch(0, ReplicaSlices.source(batches, 0, B), StepObserver.NONE);

        float[] initial = RESNET.build().params().toFloatVector();
        float[] trained = cached.params().toFloatVector();
        assertNotEquals(0, maxDifference(initial, trained), "training moved the parameters");
        assertArrayEquals(recomputed.params().toFloatVector(), trained, "bit-identical with and without the cache");
    }

    private static List<DataSet> batches() {
        Nd4j.getRandom().setSeed(11);
        List<DataSet> batches = new ArrayList<>();
        for (int s = 0; s < STEPS; s++) {
            INDArray features = Nd4j.rand(DataType.FLOAT, B, 1, 12, 12);
            INDArray labels = Nd4j.zeros(DataType.FLOAT, B, 10);
            for (int i = 0; i < B; i++) {
                labels.putScalar(i, (i * 3 + s) % 10, 1f);
            }
            batches.add(new DataSet(features, labels));
        }
        return batches;
    }

    private static LearningRateSchedule schedule() {
        return new LearningRateSchedule(RESNET.learningRate(), LearningRateSchedule.Scaling.NONE, 1, 0, STEPS);
    }

    private static double maxDifference(float[] a, float[] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }
}
