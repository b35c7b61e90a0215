package io.lockstep.driver.train;

import io.lockstep.models.InputShape;
import io.lockstep.worker.data.ImageTransform;
import io.lockstep.worker.train.BatchDecoder;

import java.io.Serializable;
import java.util.List;

/**
 * A dataset as the training job sees it: records read once on the driver, decoded on the executors.
 *
 * @param <R> record type; serializable, holding encoded bytes or raw pixels, never ND4J arrays
 */
public interface TrainingData<R extends Serializable> {
    List<String> classNames();

    /** Shape the decoder produces, which the model is built for. */
    InputShape shape();

    List<R> train();

    List<R> test();

    /** How records become model inputs (size, channels, augmentation, normalization); stored with the model. */
    ImageTransform transform();

    /** The executor-side decoder for this dataset. */
    BatchDecoder<R> decoder();
}
