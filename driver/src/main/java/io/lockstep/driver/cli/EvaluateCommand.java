package io.lockstep.driver.cli;

import io.lockstep.driver.train.Evaluation;
import io.lockstep.driver.train.ModelFile;
import io.lockstep.driver.train.TrainingData;
import io.lockstep.driver.data.DataOptions;
import io.lockstep.driver.data.DatasetSource;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.graph.ComputationGraph;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.concurrent.Callable;

/**
 * {@code lockstep evaluate}: accuracy, per-class accuracy and the confusion matrix of a trained model
 * on a dataset's test split. Runs in this JVM (inference needs no replicas).
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

    @Override
    public Integer call() {
        if (batchSize <= 0) {
            throw new UserError("--batch-size: must be a positive integer, got " + batchSize);
        }
        Configuration hadoopConf = new Configuration();
        File local = fetch(modelFile, hadoopConf);
        ModelFile.Info info = ModelFile.readInfo(local);
        ComputationGraph graph = ModelFile.readGraph(local);
        // Decode exactly as in training: the transform (size, channels, normalization statistics) stored with the model.
        TrainingData<?> dataset = info.transform() == null ? DatasetSource.open(data, hadoopConf, dataOptions.toOptions())
                : DatasetSource.open(data, hadoopConf, dataOptions.toOptions()).withTransform(info.transform());
        if (!dataset.shape().equals(info.inputShape())) {
            throw new UserError("--data: the dataset's images are " + dataset.shape() + " but the model was trained on "
                    + info.inputShape() + "; evaluate on data of the same shape");
        }
        if (!dataset.classNames().equals(info.classNames())) {
            throw new UserError("--data: the dataset's classes " + dataset.classNames() + " differ from the model's "
                    + info.classNames());
        }
        Evaluation result = Evaluation.run(graph, dataset, batchSize);
        System.out.print(result.report(info.classNames()));
        return 0;
    }

    private static File fetch(String uri, Configuration conf) {
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
