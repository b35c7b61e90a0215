package io.lockstep.driver.train;

import io.lockstep.models.InputShape;
import io.lockstep.worker.data.ExampleDecoder;
import io.lockstep.worker.data.ExampleRecord;
import io.lockstep.worker.data.ImageTransform;
import io.lockstep.worker.train.BatchDecoder;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import org.nd4j.linalg.dataset.DataSet;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.stream.IntStream;

/**
 * A caller's {@code JavaRDD<DataSet>} (any batch sizes) as training input: split into single examples
 * on the executors and indexed in the RDD's order, so a fixed RDD gives a fixed epoch plan. Nothing is
 * collected to the driver except the first example, to check shapes.
 */
public final class DataSetInput implements TrainingInput<ExampleRecord> {
    private final JavaPairRDD<Integer, ExampleRecord> train;
    private final JavaPairRDD<Integer, ExampleRecord> test;
    private final int trainSize;
    private final ExampleRecord first;

    /**
     * @param train training batches
     * @param test  test batches, or {@code null} for none
     * @throws IllegalArgumentException when the RDD is empty, has masks, or mixes shapes in its first batch
     */
    public DataSetInput(JavaRDD<DataSet> train, JavaRDD<DataSet> test) {
        this.train = indexed(train).persist(StorageLevel.MEMORY_AND_DISK_SER());
        long count = this.train.count();
        if (count == 0) {
            this.train.unpersist(false);
            throw new IllegalArgumentException("the training RDD holds no examples; give a JavaRDD<DataSet> with data");
        }
        if (count > Integer.MAX_VALUE) {
            this.train.unpersist(false);
            throw new IllegalArgumentException("the training RDD holds " + count + " examples; at most "
                    + Integer.MAX_VALUE + " are supported");
        }
        this.trainSize = (int) count;
        this.first = this.train.lookup(0).get(0);
        this.test = test == null ? null : indexed(test);
    }

    private static JavaPairRDD<Integer, ExampleRecord> indexed(JavaRDD<DataSet> batches) {
        return batches.flatMap(DataSetInput::examples).zipWithIndex().mapToPair(t -> new scala.Tuple2<>(t._2().intValue(), t._1()));
    }

    /** The examples of one batch, on the executor that holds it (labels empty when the batch has none). */
    public static Iterator<ExampleRecord> examples(DataSet batch) {
        if (batch.getFeaturesMaskArray() != null || batch.getLabelsMaskArray() != null) {
            throw new IllegalArgumentException("a DataSet in the RDD has a features or labels mask; masks are not supported"
                    + " (give fixed-size examples)");
        }
        List<ExampleRecord> examples = new ArrayList<>(batch.numExamples());
        long[] shape = batch.getFeatures().shape();
        long[] exampleShape = Arrays.copyOfRange(shape, 1, shape.length);
        for (int i = 0; i < batch.numExamples(); i++) {
            float[] features = batch.getFeatures().slice(i).dup('c').reshape(-1).toFloatVector();
            float[] labels = batch.getLabels() == null ? new float[0] : batch.getLabels().slice(i).dup('c').reshape(-1).toFloatVector();
            examples.add(new ExampleRecord(features, exampleShape, labels));
        }
        return examples.iterator();
    }

    /** Number of label columns, which the network's output layer must match. */
    public int labelCount() {
        return first.labels().length;
    }

    @Override
    public List<String> classNames() {
        return IntStream.range(0, labelCount()).mapToObj(String::valueOf).toList();
    }

    @Override
    public InputShape shape() {
        long[] s = first.shape();
        return s.length == 3 ? new InputShape((int) s[0], (int) s[1], (int) s[2]) : new InputShape(1, 1, first.features().length);
    }

    @Override
    public int trainSize() {
        return trainSize;
    }

    @Override
    public JavaPairRDD<Integer, ExampleRecord> train(JavaSparkContext sc, int replicas) {
        return train;
    }

    @Override
    public JavaPairRDD<Integer, ExampleRecord> test(JavaSparkContext sc, int replicas) {
        return test != null ? test : JavaPairRDD.fromJavaRDD(sc.<scala.Tuple2<Integer, ExampleRecord>>emptyRDD());
    }

    @Override
    public BatchDecoder<ExampleRecord> decoder() {
        return new ExampleDecoder();
    }

    @Override
    public ImageTransform transform() {
        return null;
    }

    /** Releases the cached examples (the caller's RDDs are left as they are). */
    public void release() {
        train.unpersist(false);
    }
}
