package io.lockstep.driver.cli;

import io.lockstep.driver.infer.ParquetPredictions;
import io.lockstep.worker.spark.SerializableHadoopConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.graph.ComputationGraph;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.Serializable;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code lockstep predict}: applies a trained model to a dataset on the executors (one model per
 * executor JVM, batched) and writes the predictions as Parquet ({@link ParquetPredictions}).
 */
@Command(name = "predict", mixinStandardHelpOptions = true, showDefaultValues = true,
        description = "Predict a dataset with a trained model (model.zip) on the executors; write Parquet.")
public final class PredictCommand implements Callable<Integer> {

    @Mixin
    InferenceOptions inference;

    @Option(names = "--out", required = true, paramLabel = "DIR",
            description = "Output directory (any Hadoop filesystem) for part-NNNNN.parquet files: id, label, predicted, predicted_class, probabilities.")
    String out;

    @Option(names = "--split", defaultValue = "test", description = "Records to predict: test, train or all.")
    String split;

    @Override
    public Integer call() {
        List<String> errors = inference.errors();
        String which = split.toLowerCase(Locale.ROOT);
        if (!List.of("test", "train", "all").contains(which)) {
            errors.add("--split: use test, train or all, got '" + split + "'");
        }
        if (!errors.isEmpty()) {
            throw new UserError("invalid options:\n  " + String.join("\n  ", errors));
        }
        try (JavaSparkContext sc = inference.sparkContext("lockstep predict")) {
            InferenceOptions.Loaded loaded = inference.load(sc);
            try {
                long start = System.nanoTime();
                long written = predict(sc, loaded.graph(), loaded.input(), which, loaded.info().classNames());
                double seconds = (System.nanoTime() - start) / 1e9;
                System.out.printf("wrote %d predictions to %s in %.1f s (%.0f images/s)%n", written, out, seconds, written / seconds);
            } finally {
                loaded.input().release();
            }
        }
        return 0;
    }

    private <R extends Serializable> long predict(JavaSparkContext sc, ComputationGraph graph, InferenceOptions.Input<R> input,
                                                  String which, List<String> classNames) {
        Broadcast<byte[]> model = sc.broadcast(InferenceOptions.bytes(graph));
        try {
            return ParquetPredictions.write(input.identified(!which.equals("test"), !which.equals("train")), input.decoder(), model,
                    inference.batchSize(), classNames, out, new SerializableHadoopConf(sc.hadoopConfiguration()));
        } finally {
            model.destroy();
        }
    }
}
