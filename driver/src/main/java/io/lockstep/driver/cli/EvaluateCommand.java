package io.lockstep.driver.cli;

import io.lockstep.api.Evaluation;
import io.lockstep.driver.infer.Inference;
import io.lockstep.driver.train.ModelFile;
import io.lockstep.driver.train.TrainingData;
import io.lockstep.driver.data.DataOptions;
import io.lockstep.driver.data.DatasetSource;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.Serializable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.concurrent.Callable;

/**
 * {@code lockstep evaluate}: accuracy, per-class accuracy and the confusion matrix of a trained model
 * on a dataset's test split. Inference runs on the executors (one model per executor JVM, batched),
 * in local mode unless {@code --master} or spark-submit names a cluster.
 */
@Command(name = "evaluate", mixinStandardHelpOptions = true, showDefaultValues = true,
        description = "Evaluate a trained model (model.zip) on a dataset's test split.")
public final class EvaluateCommand implements Callable<Integer> {

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

    @Override
    public Integer call() {
        if (batchSize <= 0) {
            throw new UserError("--batch-size: must be a positive integer, got " + batchSize);
        }
        Configuration hadoopConf = new Configuration();
        File local = fetch(modelFile, hadoopConf);
        ModelFile.Info info = ModelFile.readInfo(local);
        ComputationGraph graph = ModelFile.readGraph(local);
        TrainingData<?> dataset = openFor(info, data, hadoopConf, dataOptions);
        Evaluation result = evaluate(graph, dataset, info.classNames().size());
        System.out.print(result.report(info.classNames()));
        return 0;
    }

    /** Evaluates on the executors: the test records are spread over the cluster, the model goes once to each JVM. */
    private <R extends Serializable> Evaluation evaluate(ComputationGraph graph, TrainingData<R> dataset, int classes) {
        try (JavaSparkContext sc = sparkContext("lockstep evaluate", master)) {
            Broadcast<byte[]> model = sc.broadcast(bytes(graph));
            int slices = Math.max(sc.defaultParallelism(), dataset.test().size() / 4096);
            return new Evaluation(Inference.confusion(sc.parallelize(dataset.test(), slices), dataset.decoder(), model,
                    batchSize, classes));
        }
    }

    /**
     * The dataset at {@code data}, decoded exactly as in training (the transform — size, channels,
     * normalization statistics — stored with the model); fails naming the mismatch when its shape or
     * classes differ from the model's.
     */
    static TrainingData<?> openFor(ModelFile.Info info, String data, Configuration hadoopConf, DataOptions dataOptions) {
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
        return dataset;
    }

    /** A context for inference: the master spark-submit set, else {@code --master}, else all local cores. */
    static JavaSparkContext sparkContext(String appName, String master) {
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

    static File fetch(String uri, Configuration conf) {
        try {
            Path path = new Path(uri);
            FileSystem fs = path.getFileSystem(conf);
            if (!fs.exists(path)) {
                throw new UserError("--model-file: " + uri + " does not exist");
            }
            File local = Files.createTempFile("lockstep-eval", ".zip").toFile();
            local.deleteOnExit();
            fs.copyToLocalFile(false, path, new Path(local.toURI()), true);
            return local;
        } catch (IOException e) {
            throw new UncheckedIOException("--model-file: cannot read " + uri + ": " + e.getMessage(), e);
        }
    }
}
