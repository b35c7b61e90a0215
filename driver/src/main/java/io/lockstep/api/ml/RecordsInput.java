package io.lockstep.api.ml;

import io.lockstep.driver.train.TrainingInput;
import io.lockstep.models.InputShape;
import io.lockstep.worker.data.ImageBatchDecoder;
import io.lockstep.worker.data.ImageTransform;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.train.BatchDecoder;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.ml.attribute.Attribute;
import org.apache.spark.ml.attribute.NominalAttribute;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.storage.StorageLevel;
import scala.Tuple2;

import java.util.List;
import java.util.stream.IntStream;

/**
 * DataFrames of images as training input (for {@link LockstepClassifier} and
 * {@code Lockstep.fit(Dataset<Row>, …)}): rows indexed in the DataFrame's order, cached serialized,
 * never collected. Release it when training ends.
 */
public final class RecordsInput implements TrainingInput<LabeledRecord> {
    private final JavaPairRDD<Integer, LabeledRecord> train;
    private final JavaPairRDD<Integer, LabeledRecord> test;
    private final int size;
    private final List<String> classNames;
    private final ImageBatchDecoder decoder;

    private RecordsInput(JavaPairRDD<Integer, LabeledRecord> train, JavaPairRDD<Integer, LabeledRecord> test,
                         List<String> classNames, ImageBatchDecoder decoder) {
        this.train = train;
        this.test = test;
        long count = train.count();
        if (count == 0) {
            release();
            throw new IllegalArgumentException("the DataFrame has no rows to train on");
        }
        this.size = (int) Math.min(Integer.MAX_VALUE, count);
        this.classNames = classNames;
        this.decoder = decoder;
    }

    /**
     * The images of {@code imageCol} (encoded bytes or Spark's image struct) with the class indices of
     * {@code labelCol} (numeric; class names from its StringIndexer metadata when it has them), checked
     * before any stage starts.
     *
     * @param test rows evaluated after every epoch, or null
     */
    public static RecordsInput fromFrames(Dataset<Row> train, Dataset<Row> test, String imageCol, String labelCol,
                                          ImageTransform transform) {
        ImageColumn images = ImageColumn.of(train.schema(), imageCol, "imageCol", transform);
        ImageColumn.checkLabel(train.schema(), labelCol);
        if (test != null) {
            ImageColumn testImages = ImageColumn.of(test.schema(), imageCol, "imageCol (test DataFrame)", transform);
            if (!testImages.sameKind(images)) {
                // One decoder serves both DataFrames: encoded bytes and pixel structs cannot be mixed.
                throw new IllegalArgumentException("imageCol: '" + imageCol + "' holds " + images.kind()
                        + " in the training DataFrame but " + testImages.kind() + " in the test DataFrame; give both the same kind");
            }
            ImageColumn.checkLabel(test.schema(), labelCol);
        }
        List<String> classNames = classNames(train, labelCol);
        JavaPairRDD<Integer, LabeledRecord> trainRecords = records(train, images, imageCol, labelCol, classNames.size());
        JavaPairRDD<Integer, LabeledRecord> testRecords = test == null ? null
                : records(test, images, imageCol, labelCol, classNames.size());
        return new RecordsInput(trainRecords, testRecords, classNames, images.decoder(classNames.size()));
    }

    private static JavaPairRDD<Integer, LabeledRecord> records(Dataset<Row> frame, ImageColumn images, String imageCol,
                                                               String labelCol, int classes) {
        int imageIndex = frame.schema().fieldIndex(imageCol);
        int labelIndex = frame.schema().fieldIndex(labelCol);
        JavaRDD<LabeledRecord> records = frame.javaRDD().map(row -> {
            if (row.isNullAt(labelIndex)) {
                throw new IllegalArgumentException("labelCol: a row has no label (null in '" + labelCol
                        + "'); drop or label it");
            }
            int label = (int) ((Number) row.get(labelIndex)).doubleValue();
            if (label < 0 || label >= classes) {
                throw new IllegalArgumentException("labelCol: class index " + label + " is outside 0.." + (classes - 1)
                        + " (the classes of the training DataFrame)");
            }
            return images.record(row, imageIndex, label);
        });
        return records.zipWithIndex().mapToPair(t -> new Tuple2<>(t._2().intValue(), t._1()))
                .persist(StorageLevel.MEMORY_AND_DISK_SER());
    }

    /** Class names from the label column's metadata (a StringIndexer's labels), else "0".."max". */
    private static List<String> classNames(Dataset<Row> frame, String labelCol) {
        Attribute attribute = Attribute.fromStructField(frame.schema().apply(labelCol));
        if (attribute instanceof NominalAttribute nominal && nominal.values().isDefined()) {
            return List.of(nominal.values().get());
        }
        if (attribute instanceof NominalAttribute nominal && nominal.numValues().isDefined()) {
            return IntStream.range(0, (Integer) nominal.numValues().get()).mapToObj(String::valueOf).toList();
        }
        Row max = frame.agg(org.apache.spark.sql.functions.max(labelCol)).first();
        if (max.isNullAt(0)) {
            throw new IllegalArgumentException("the DataFrame has no rows to train on");
        }
        int classes = (int) ((Number) max.get(0)).doubleValue() + 1;
        return IntStream.range(0, classes).mapToObj(String::valueOf).toList();
    }

    @Override
    public List<String> classNames() {
        return classNames;
    }

    @Override
    public InputShape shape() {
        return decoder.transform().shape();
    }

    @Override
    public int trainSize() {
        return size;
    }

    @Override
    public JavaPairRDD<Integer, LabeledRecord> train(JavaSparkContext sc, int replicas) {
        return train;
    }

    @Override
    public JavaPairRDD<Integer, LabeledRecord> test(JavaSparkContext sc, int replicas) {
        return test != null ? test : JavaPairRDD.fromJavaRDD(sc.<Tuple2<Integer, LabeledRecord>>emptyRDD());
    }

    @Override
    public BatchDecoder<LabeledRecord> decoder() {
        return decoder;
    }

    @Override
    public ImageTransform transform() {
        return decoder.transform();
    }

    /** Drops the cached records. */
    public void release() {
        train.unpersist(false);
        if (test != null) {
            test.unpersist(false);
        }
    }
}
