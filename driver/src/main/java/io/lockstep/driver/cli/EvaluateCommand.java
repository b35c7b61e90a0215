package io.lockstep.driver.cli;

import io.lockstep.api.Evaluation;
import io.lockstep.driver.infer.Inference;
import io.lockstep.driver.train.TrainingData;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.graph.ComputationGraph;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.io.Serializable;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code lockstep evaluate}: accuracy, per-class accuracy and the confusion matrix of a trained model
 * on a dataset's test split. Inference runs on the executors (one model per executor JVM, batched),
 * in local mode unless {@code --master} or spark-submit names a cluster.
 */
@Command(name = "evaluate", mixinStandardHelpOptions = true, showDefaultValues = true,
        description = "Evaluate a trained model (model.zip) on a dataset's test split.")
public final class EvaluateCommand implements Callable<Integer> {

    @Mixin
    InferenceOptions inference;

    @Override
    public Integer call() {
        List<String> errors = inference.errors();
        if (!errors.isEmpty()) {
            throw new UserError(String.join("\n", errors));
        }
        InferenceOptions.Loaded loaded = inference.load();
        Evaluation result = evaluate(loaded.graph(), loaded.dataset(), loaded.info().classNames().size());
        System.out.print(result.report(loaded.info().classNames()));
        return 0;
    }

    /** Evaluates on the executors: the test records are spread over the cluster, the model goes once to each JVM. */
    private <R extends Serializable> Evaluation evaluate(ComputationGraph graph, TrainingData<R> dataset, int classes) {
        try (JavaSparkContext sc = inference.sparkContext("lockstep evaluate")) {
            Broadcast<byte[]> model = sc.broadcast(InferenceOptions.bytes(graph));
            int slices = Math.max(sc.defaultParallelism(), dataset.test().size() / 4096);
            return new Evaluation(Inference.confusion(sc.parallelize(dataset.test(), slices), dataset.decoder(), model,
                    inference.batchSize(), classes));
        }
    }
}
