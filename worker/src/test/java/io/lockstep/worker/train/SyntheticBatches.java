package io.lockstep.worker.train;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;

/**
 * TEST FIXTURE — the data and schedule of the equivalence tests: fixed global batches of uniform noise
 * images with one-hot labels, the same for a given seed in every JVM, which N replicas split into slices
 * of B ({@link ReplicaSlices}) and one replica trains whole.
 */
public final class SyntheticBatches {
    private SyntheticBatches() {
    }

    /**
     * {@code steps} global batches of {@code samples} images of {@code channels x side x side} and labels
     * of {@code classes} classes; sample i of step s is of class {@code (7i + s) mod classes}.
     */
    public static List<DataSet> global(long seed, int steps, int samples, int channels, int side, int classes) {
        Nd4j.getRandom().setSeed(seed);
        List<DataSet> batches = new ArrayList<>();
        for (int s = 0; s < steps; s++) {
            INDArray features = Nd4j.rand(DataType.FLOAT, samples, channels, side, side);
            INDArray labels = Nd4j.zeros(DataType.FLOAT, samples, classes);
            for (int i = 0; i < samples; i++) {
                labels.putScalar(i, (i * 7 + s) % classes, 1f);
            }
            batches.add(new DataSet(features, labels));
        }
        return batches;
    }

    /** The recipe's learning rate at every step of an epoch of {@code steps} steps (no warm-up, no decay). */
    public static LearningRateSchedule constantRate(ModelRecipe recipe, int steps) {
        return new LearningRateSchedule(recipe.learningRate(), LearningRateSchedule.Scaling.NONE, 1, 0, steps);
    }
}
