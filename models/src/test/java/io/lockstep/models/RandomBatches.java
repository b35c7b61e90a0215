package io.lockstep.models;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

/** Reproducible training batches for tests that compare two ways of computing the same steps. */
public final class RandomBatches {
    private RandomBatches() {
    }

    /**
     * {@code size} images of uniform noise in [0, 1), drawn after seeding ND4J with {@code seed}, with one-hot
     * labels: image {@code i} is of class {@code (3i + seed) mod classes}.
     */
    public static DataSet of(InputShape shape, int size, int classes, long seed) {
        Nd4j.getRandom().setSeed(seed);
        INDArray features = Nd4j.rand(DataType.FLOAT, size, shape.channels(), shape.height(), shape.width());
        INDArray labels = Nd4j.zeros(DataType.FLOAT, size, classes);
        for (int i = 0; i < size; i++) {
            labels.putScalar(i, (i * 3 + (int) seed) % classes, 1f);
        }
        return new DataSet(features, labels);
    }
}
