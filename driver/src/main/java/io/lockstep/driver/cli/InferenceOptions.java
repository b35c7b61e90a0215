package io.lockstep.driver.cli;

import io.lockstep.driver.data.DataOptions;
import io.lockstep.driver.data.DatasetSource;
import io.lockstep.driver.train.ModelFile;
import io.lockstep.driver.train.TrainingData;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

/**
 * The options of the commands that run a trained model over a dataset ({@code evaluate},
 * {@code predict}), defined once: the model, the data (read as in training, without augmentation),
 * the batch size and the Spark master. Add with {@code @Mixin InferenceOptions inference;}.
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

    @Option(names = "--master", description = "Spark master; default: the one spark-submit set, else local[*].")
    String master;

    /** A trained model and the dataset to run it on, decoded as in its training. */
    record Loaded(ModelFile.Info info, ComputationGraph graph, TrainingData<?> dataset) {
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
        return errors;
    }

    /**
     * Reads the model and opens the dataset, decoded exactly as in training (the transform — size,
     * channels, normalization statistics — stored with the model); fails naming the mismatch when the
     * dataset's shape or classes differ from the model's.
     */
    Loaded load() {
        Configuration hadoopConf = new Configuration();
        File local = fetch(hadoopConf);
        ModelFile.Info info = ModelFile.readInfo(local);
        TrainingData<?> dataset = info.transform() == null ? DatasetSource.open(data, hadoopConf, dataOptions.toOptions())
                : DatasetSource.open(data, hadoopConf, dataOptions.toOptions()).withTransform(info.transform());
        if (!dataset.shape().equals(info.inputShape())) {
            throw new UserError("--data: the dataset's images are " + dataset.shape() + " but the model was trained on "
                    + info.inputShape() + "; use data of the same shape");
        }
        if (!dataset.classNames().equals(info.classNames())) {
            throw new UserError("--data: the dataset's classes " + dataset.classNames() + " differ from the model's "
                    + info.classNames());
        }
        return new Loaded(info, ModelFile.readGraph(local), dataset);
    }

    /** A context for inference: the master spark-submit set, else {@code --master}, else all local cores. */
    JavaSparkContext sparkContext(String appName) {
        SparkConf conf = new SparkConf().setAppName(appName)
                .setIfMissing("spark.master", "local[*]")
                .setIfMissing("spark.ui.enabled", "false");
        if (master != null) {
            conf.setMaster(master);
        }
        JavaSparkContext sc = new JavaSparkContext(conf);
        sc.setLogLevel("WARN");
        return sc;
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
