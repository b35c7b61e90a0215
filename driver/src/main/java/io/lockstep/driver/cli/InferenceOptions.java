package io.lockstep.driver.cli;

import io.lockstep.driver.data.DataOptions;
import io.lockstep.driver.data.DatasetOptions;
import io.lockstep.driver.data.DatasetSource;
import io.lockstep.driver.data.DistributedDataset;
import io.lockstep.driver.data.ReadOptions;
import io.lockstep.driver.data.LoadedDataset;
import io.lockstep.driver.train.ModelFile;
import io.lockstep.driver.train.TrainingData;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.train.BatchDecoder;
import io.lockstep.models.InputShape;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import scala.Tuple2;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

/**
 * The options of the commands that run a trained model over a dataset ({@code evaluate},
 * {@code predict}), defined once: the model, the data (read as in training, without augmentation, on
 * the driver or the executors), the batch size and the Spark master. Add with {@code @Mixin InferenceOptions inference;}.
 */
public final class InferenceOptions {

    @Option(names = "--model-file", required = true, paramLabel = "URI", description = "model.zip written by `lockstep train`.")
    String modelFile;

    @Option(names = "--data", required = true, paramLabel = "URI", description = "Dataset directory (any Hadoop filesystem).")
    String data;

    @Mixin
    DataOptions dataOptions;

    @Option(names = "--batch-size", defaultValue = "256", description = "Inference batch size.")
    int batchSize;

    @Mixin
    ReadOptions read;

    /** A trained model and the dataset to run it on, decoded as in its training. */
    record Loaded(ModelFile.Info info, ComputationGraph graph, Input<?> input) {
    }

    /** The records to run a model on, wherever they were read; {@link #release()} when done. */
    interface Input<R extends Serializable> {
        /** The test split. */
        JavaRDD<R> test();

        /** The chosen splits' records, each with its id (the image's path, or {@code SPLIT:INDEX}). */
        JavaRDD<Tuple2<String, R>> identified(boolean train, boolean test);

        BatchDecoder<R> decoder();

        void release();
    }

    int batchSize() {
        return batchSize;
    }

    /** The problems with these options, each naming its option (empty when there are none). */
    List<String> errors() {
        List<String> errors = new ArrayList<>();
        if (batchSize <= 0) {
            errors.add("--batch-size: must be a positive integer, got " + batchSize);
        }
        errors.addAll(read.errors());
        return errors;
    }

    /**
     * Reads the model and opens the dataset (on the driver or, with {@code --read-on executors} and for
     * Parquet and tar shards, on the executors of {@code sc}), decoded exactly as in training (the
     * transform — size, channels, normalization statistics — stored with the model); fails naming the
     * mismatch when the dataset's shape or classes differ from the model's.
     */
    Loaded load(JavaSparkContext sc) {
        Configuration hadoopConf = sc.hadoopConfiguration();
        File local = fetch(hadoopConf);
        ModelFile.Info info = ModelFile.readInfo(local);
        DatasetOptions options = dataOptions.toOptions();
        Input<?> input;
        InputShape shape;
        List<String> classNames;
        if (read.onExecutors(data, hadoopConf)) {
            DistributedDataset opened = DistributedDataset.open(sc, data, options, read.imageColumn(), read.labelColumn());
            DistributedDataset dataset = info.transform() == null ? opened : opened.withTransform(info.transform());
            input = new OnExecutors(dataset);
            shape = dataset.shape();
            classNames = dataset.classNames();
        } else {
            LoadedDataset opened = DatasetSource.open(data, hadoopConf, options);
            LoadedDataset dataset = info.transform() == null ? opened : opened.withTransform(info.transform());
            input = new OnDriver<>(sc, dataset);
            shape = dataset.shape();
            classNames = dataset.classNames();
        }
        try {
            if (!shape.equals(info.inputShape())) {
                throw new UserError("--data: the dataset's images are " + shape + " but the model was trained on "
                        + info.inputShape() + "; use data of the same shape");
            }
            if (!classNames.equals(info.classNames())) {
                throw new UserError("--data: the dataset's classes " + classNames + " differ from the model's " + info.classNames());
            }
            return new Loaded(info, ModelFile.readGraph(local), input);
        } catch (RuntimeException e) {
            input.release();
            throw e;
        }
    }

    /** Records the driver read: sent to the executors in slices of about 4096. */
    private record OnDriver<R extends Serializable>(JavaSparkContext sc, TrainingData<R> dataset) implements Input<R> {
        @Override
        public JavaRDD<R> test() {
            return sc.parallelize(dataset.test(), slices(dataset.test().size()));
        }

        @Override
        public JavaRDD<Tuple2<String, R>> identified(boolean train, boolean test) {
            List<Tuple2<String, R>> records = new ArrayList<>();
            if (train) {
                addWithIds(records, dataset.train(), "train");
            }
            if (test) {
                addWithIds(records, dataset.test(), "test");
            }
            return sc.parallelize(records, slices(records.size()));
        }

        private int slices(int records) {
            return Math.max(sc.defaultParallelism(), records / 4096);
        }

        private static <R> void addWithIds(List<Tuple2<String, R>> into, List<R> records, String split) {
            for (int i = 0; i < records.size(); i++) {
                R record = records.get(i);
                String id = record instanceof LabeledRecord labeled && labeled.source() != null ? labeled.source() : split + ":" + i;
                into.add(new Tuple2<>(id, record));
            }
        }

        @Override
        public BatchDecoder<R> decoder() {
            return dataset.decoder();
        }

        @Override
        public void release() {
        }
    }

    /**
     * Records the executors read and cached, in their read units' partitions — spread over every core
     * when fewer partitions than cores hold the chosen split (a gzipped IDX split is one unit: without
     * the spread, one task would predict it all while the other executors wait).
     */
    private record OnExecutors(DistributedDataset dataset) implements Input<LabeledRecord> {
        @Override
        public JavaRDD<LabeledRecord> test() {
            return spread(dataset.identified(true).map(Tuple2::_2), dataset.partitionsHolding(true));
        }

        @Override
        public JavaRDD<Tuple2<String, LabeledRecord>> identified(boolean train, boolean test) {
            if (train && test) {
                return spread(dataset.identified(false).union(dataset.identified(true)),
                        dataset.partitionsHolding(false) + dataset.partitionsHolding(true));
            }
            return spread(dataset.identified(test), dataset.partitionsHolding(test));
        }

        private static <T> JavaRDD<T> spread(JavaRDD<T> records, int partitionsHolding) {
            int cores = records.context().defaultParallelism();
            return partitionsHolding < cores ? records.repartition(cores) : records;
        }

        @Override
        public BatchDecoder<LabeledRecord> decoder() {
            return dataset.decoder();
        }

        @Override
        public void release() {
            dataset.release();
        }
    }

    /** A context for inference: the master spark-submit set, else {@code --master}, else all local cores. */
    JavaSparkContext sparkContext(String appName) {
        return read.sparkContext(appName);
    }

    /** The model as ModelSerializer bytes, to broadcast. */
    static byte[] bytes(ComputationGraph graph) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try {
            ModelSerializer.writeModel(graph, bytes, false);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serialize the model: " + e.getMessage(), e);
        }
        return bytes.toByteArray();
    }

    /** A local copy of {@code --model-file}, from any Hadoop filesystem. */
    private File fetch(Configuration conf) {
        try {
            Path path = new Path(modelFile);
            FileSystem fs = path.getFileSystem(conf);
            if (!fs.exists(path)) {
                throw new UserError("--model-file: " + modelFile + " does not exist");
            }
            File local = Files.createTempFile("lockstep-model", ".zip").toFile();
            local.deleteOnExit();
            fs.copyToLocalFile(false, path, new Path(local.toURI()), true);
            return local;
        } catch (IOException e) {
            throw new UncheckedIOException("--model-file: cannot read " + modelFile + ": " + e.getMessage(), e);
        }
    }
}
