package io.lockstep.driver.train;

import io.lockstep.driver.data.DatasetSource;
import io.lockstep.models.InputShape;
import io.lockstep.worker.data.ImageTransform;
import io.lockstep.worker.train.BatchDecoder;
import org.nd4j.linalg.dataset.DataSet;

import java.io.Serializable;
import java.util.List;

/**
 * A dataset whose executor-side decoder calls a test hook before decoding each training batch, to hold
 * or slow one replica's data at a chosen step. Spark local mode runs tasks in the test's JVM, so the
 * hook can reach the test's latches through static fields.
 */
final class HookedData<R extends Serializable> implements TrainingData<R> {
    /** Called on the replica's prefetch thread before its batch {@code step} of {@code epoch} is decoded. */
    @FunctionalInterface
    interface Hook extends Serializable {
        void beforeBatch(int epoch, int rank, int step) throws InterruptedException;
    }

    private final TrainingData<R> data;
    private final Hook hook;

    private HookedData(TrainingData<R> data, Hook hook) {
        this.data = data;
        this.hook = hook;
    }

    /** The dataset at {@code uri}, its training batches going through {@code hook}, as a job's input. */
    static TrainingInput<?> input(String uri, org.apache.hadoop.conf.Configuration conf, Hook hook) {
        return new ListedInput<>(wrap(DatasetSource.open(uri, conf), hook));
    }

    private static <R extends Serializable> HookedData<R> wrap(TrainingData<R> data, Hook hook) {
        return new HookedData<>(data, hook);
    }

    @Override
    public List<String> classNames() {
        return data.classNames();
    }

    @Override
    public InputShape shape() {
        return data.shape();
    }

    @Override
    public List<R> train() {
        return data.train();
    }

    @Override
    public List<R> test() {
        return data.test();
    }

    @Override
    public ImageTransform transform() {
        return data.transform();
    }

    @Override
    public BatchDecoder<R> decoder() {
        BatchDecoder<R> inner = data.decoder();
        Hook h = hook;
        return (records, training, seed, epoch, rank, step) -> {
            if (training) {
                try {
                    h.beforeBatch(epoch, rank, step);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted in the test hook", e);
                }
            }
            DataSet batch = inner.decode(records, training, seed, epoch, rank, step);
            return batch;
        };
    }
}
