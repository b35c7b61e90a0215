package io.lockstep.driver.train;

import io.lockstep.driver.data.LoadedDataset;
import io.lockstep.models.InputShape;
import io.lockstep.worker.data.ImageTransform;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.train.BatchDecoder;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import scala.Tuple2;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** A dataset read on the driver ({@link TrainingData}), parallelized to the executors once per job. */
public final class ListedInput<R extends Serializable> implements TrainingInput<R> {
    /** Records travel inside the tasks that first cache them: keep each slice near this size. */
    private static final long SLICE_BYTES = 512 * 1024;

    private final TrainingData<R> data;

    public ListedInput(TrainingData<R> data) {
        this.data = data;
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
    public int trainSize() {
        return data.train().size();
    }

    @Override
    public JavaPairRDD<Integer, R> train(JavaSparkContext sc, int replicas) {
        return parallelize(sc, data.train(), replicas);
    }

    @Override
    public JavaPairRDD<Integer, R> test(JavaSparkContext sc, int replicas) {
        return parallelize(sc, data.test(), replicas);
    }

    private JavaPairRDD<Integer, R> parallelize(JavaSparkContext sc, List<R> records, int replicas) {
        long recordBytes = data.train().isEmpty() ? 0 : approximateBytes(data.train().get(0)) * (long) data.train().size();
        int partitions = (int) Math.max(Math.max(replicas, sc.defaultParallelism()), recordBytes / SLICE_BYTES);
        List<Tuple2<Integer, R>> indexed = new ArrayList<>(records.size());
        for (int i = 0; i < records.size(); i++) {
            indexed.add(new Tuple2<>(i, records.get(i)));
        }
        return JavaPairRDD.fromJavaRDD(sc.parallelize(indexed, partitions));
    }

    private static long approximateBytes(Object record) {
        if (record instanceof LabeledRecord labeled) {
            return labeled.payload().length + 64L;
        }
        return 1024;
    }

    @Override
    public BatchDecoder<R> decoder() {
        return data.decoder();
    }

    @Override
    public ImageTransform transform() {
        return data.transform();
    }

    @Override
    public void describeTo(Map<String, Object> summary, List<String> skippedOnExecutors) {
        if (data instanceof LoadedDataset loaded) {
            summary.put("dataset", loaded.describe());
            List<String> skipped = new ArrayList<>(loaded.skipped().stream().map(Object::toString).toList());
            skipped.addAll(skippedOnExecutors);
            summary.put("skipped_records_count", skipped.size());
            summary.put("skipped_records", skipped);
        }
    }
}
