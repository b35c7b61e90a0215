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
import org.apache.spark.storage.StorageLevel;
import scala.Tuple2;

import java.util.List;

/** A DataFrame's image records as training input: indexed in the DataFrame's order, cached serialized, never collected. */
final class RecordsInput implements TrainingInput<LabeledRecord> {
    private final JavaPairRDD<Integer, LabeledRecord> train;
    private final int size;
    private final List<String> classNames;
    private final ImageBatchDecoder decoder;

    RecordsInput(JavaRDD<LabeledRecord> records, List<String> classNames, ImageBatchDecoder decoder) {
        this.train = records.zipWithIndex().mapToPair(t -> new Tuple2<>(t._2().intValue(), t._1()))
                .persist(StorageLevel.MEMORY_AND_DISK_SER());
        long count = train.count();
        if (count == 0) {
            train.unpersist(false);
            throw new IllegalArgumentException("the DataFrame has no rows to train on");
        }
        this.size = (int) Math.min(Integer.MAX_VALUE, count);
        this.classNames = classNames;
        this.decoder = decoder;
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
        return JavaPairRDD.fromJavaRDD(sc.<Tuple2<Integer, LabeledRecord>>emptyRDD());
    }

    @Override
    public BatchDecoder<LabeledRecord> decoder() {
        return decoder;
    }

    @Override
    public ImageTransform transform() {
        return decoder.transform();
    }

    void release() {
        train.unpersist(false);
    }
}
