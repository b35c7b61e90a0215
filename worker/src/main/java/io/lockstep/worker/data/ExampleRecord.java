package io.lockstep.worker.data;

import java.io.Serializable;

/**
 * One already-numeric example (from a caller's {@code DataSet}): its features in C order without the
 * batch dimension, and its one-hot (or soft) labels.
 *
 * @param features feature values, C order
 * @param shape    feature shape without the batch dimension, e.g. {@code [channels, height, width]}
 * @param labels   label values, one per output unit
 */
public record ExampleRecord(float[] features, long[] shape, float[] labels) implements Serializable {
}
