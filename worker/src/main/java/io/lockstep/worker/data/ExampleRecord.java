package io.lockstep.worker.data;

import java.io.Serial;
import java.io.Serializable;

/**
 * One already-numeric example (from a caller's {@code DataSet}): its features in C order without the
 * batch dimension, and its labels (one-hot or soft; empty for unlabelled examples).
 *
 * <p>A plain final class rather than a Java record, like {@link LabeledRecord}: Spark may serialize
 * RDD elements with Kryo, which cannot construct records. The arrays are shared, not copied.
 */
public final class ExampleRecord implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    private final float[] features;
    private final long[] shape;
    private final float[] labels;

    /**
     * @param features feature values, C order
     * @param shape    feature shape without the batch dimension, e.g. {@code [channels, height, width]}
     * @param labels   label values, one per output unit (empty when unlabelled)
     */
    public ExampleRecord(float[] features, long[] shape, float[] labels) {
        this.features = features;
        this.shape = shape;
        this.labels = labels;
    }

    public float[] features() {
        return features;
    }

    public long[] shape() {
        return shape;
    }

    public float[] labels() {
        return labels;
    }
}
