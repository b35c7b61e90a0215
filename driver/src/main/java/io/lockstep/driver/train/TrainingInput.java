package io.lockstep.driver.train;

import io.lockstep.models.InputShape;
import io.lockstep.worker.data.ImageTransform;
import io.lockstep.worker.train.BatchDecoder;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;

import java.io.Serializable;
import java.util.List;
import java.util.Map;

/**
 * A training job's data as the epoch loop needs it: records keyed by a dense index {@code 0..n-1},
 * living on the executors, and the decoder that turns them into batches there. The driver never holds
 * the records of an input that is already distributed (an RDD or DataFrame of the caller); a dataset
 * read on the driver ({@link ListedInput}) is parallelized once. An input that lists files on the
 * driver and reads them on the executors fits the same contract.
 *
 * @param <R> record type: serializable, holding encoded bytes or numbers, never ND4J arrays
 */
public interface TrainingInput<R extends Serializable> {
    /** Class index to name; its size is the number of labels the network must output. */
    List<String> classNames();

    /** Shape of one decoded example, which zoo models are built for. */
    InputShape shape();

    /** Number of training records; the train RDD holds exactly the indices {@code 0..trainSize()-1}. */
    int trainSize();

    /** Training records by index. Called once per job; the job persists the result if it is not already. */
    JavaPairRDD<Integer, R> train(JavaSparkContext sc, int replicas);

    /** Test records by index (possibly empty): each replica evaluates those with {@code index % replicas == rank}. */
    JavaPairRDD<Integer, R> test(JavaSparkContext sc, int replicas);

    /**
     * True when {@link #train} and {@link #test} are cheap views over records the input already keeps
     * cached on the executors, so the job must not cache them a second time.
     */
    default boolean cachesItself() {
        return false;
    }

    BatchDecoder<R> decoder();

    /** How images become inputs, stored with the model; {@code null} for numeric inputs. */
    ImageTransform transform();

    /** What to record about the input in {@code summary.json} (description, skipped records). */
    default void describeTo(Map<String, Object> summary, List<String> skippedOnExecutors) {
    }
}
