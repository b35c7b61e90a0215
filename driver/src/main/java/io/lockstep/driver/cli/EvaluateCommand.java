package io.lockstep.driver.cli;

import io.lockstep.api.Evaluation;
import io.lockstep.driver.infer.Inference;
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
 * in local mode unless {@code --master} or spark-submit names a cluster; the records are read where
 * {@code --read-on} says.
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
        try (JavaSparkContext sc = inference.sparkContext("lockstep evaluate")) {
            InferenceOptions.Loaded loaded = inference.load(sc);
            try {
                Evaluation result = evaluate(sc, loaded.graph(), loaded.input(), loaded.info().classNames().size());
                System.out.print(result.report(loaded.info().classNames()));
            } finally {
                loaded.input().release();
            }
        }
        return 0;
    }

    /** Evaluates on the executors: the test records are spread over the cluster, the model goes once to each JVM. */
    private <R extends Serializable> Evaluation evaluate(JavaSparkContext sc, ComputationGraph graph, InferenceOptions.Input<R> input,
                                                         int classes) {
        Broadcast<byte[]> model = sc.broadcast(InferenceOptions.bytes(graph));
        try {
            return new Evaluation(Inference.confusion(input.test(), input.decoder(), model, inference.batchSize(), classes));
        } finally {
            model.destroy();
        }
    }
}
