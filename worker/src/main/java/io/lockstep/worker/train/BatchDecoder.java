package io.lockstep.worker.train;

import org.nd4j.linalg.dataset.DataSet;

import java.io.Serializable;
import java.util.List;

/**
 * Turns records into a batch on the executor. Sent to every task with the stage, so it must be
 * serializable and hold no ND4J state. {@code training} batches may be augmented (seeded by
 * {@code seed}, {@code epoch} and {@code rank}); evaluation batches get only the deterministic part.
 *
 * @param <R> the record type of the dataset
 */
public interface BatchDecoder<R> extends Serializable {
    DataSet decode(List<R> records, boolean training, long seed, int epoch, int rank, int step);
}
