package io.lockstep.driver.bench;

import io.lockstep.models.InputShape;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.models.OneDnn;
import io.lockstep.models.TrainingBatches;
import io.lockstep.worker.nn.BatchNormSwap;
import io.lockstep.worker.train.Optimizer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code lockstep bench step}: single-replica training step time (forward, backward, optimizer) on
 * synthetic data, in this JVM, with or without DL4J's OneDNN layer helpers. This is the floor all
 * distributed speed stands on. Prints figures; asserts nothing.
 */
@Command(name = "step", mixinStandardHelpOptions = true, showDefaultValues = true,
        description = "Measure single-replica training step time on synthetic data.")
public final class StepTimeBenchmark implements Callable<Integer> {
    @Option(names = "--model", defaultValue = "resnet20")
    String model;

    @Option(names = "--input", defaultValue = "1x28x28", description = "CxHxW")
    String input;

    @Option(names = "--batch-size", defaultValue = "64")
    int batchSize;

    @Option(names = "--warmup-steps", defaultValue = "5")
    int warmupSteps;

    @Option(names = "--steps", defaultValue = "30")
    int steps;

    @Option(names = "--threads", defaultValue = "0", description = "ND4J threads (0: all cores)")
    int threads;

    @Option(names = "--norm", defaultValue = "batch",
            description = "batch: DL4J's BatchNorm (OneDNN helper when on); sync-batch: Lockstep's synchronized "
                    + "BatchNorm with no peers (its own statistics code, no communication)")
    String norm;

    @Option(names = "--onednn", defaultValue = "on", description = "on or off: DL4J's OneDNN layer helpers")
    String onednn;

    @Override
    public Integer call() {
        boolean helpers = !"off".equals(onednn.toLowerCase(Locale.ROOT));
        System.setProperty(OneDnn.HELPERS_DISABLE_PROPERTY, String.valueOf(!helpers));
        if (threads > 0) {
            Nd4j.getEnvironment().setMaxThreads(threads);
            Nd4j.getEnvironment().setMaxMasterThreads(threads);
        }
        InputShape shape = InputShape.parse(input);
        ComputationGraph graph = ModelRegistry.build(model, ModelOptions.of(10, shape)
                .withUpdater(Optimizer.NESTEROV.updater(0.01), 0));
        graph = switch (norm) {
            case "batch" -> graph;
            case "sync-batch" -> BatchNormSwap.toSync(graph);
            default -> throw new IllegalArgumentException("--norm: expected batch or sync-batch, got " + norm);
        };
        Nd4j.getRandom().setSeed(1);
        INDArray features = Nd4j.rand(DataType.FLOAT, batchSize, shape.channels(), shape.height(), shape.width());
        INDArray labels = Nd4j.zeros(DataType.FLOAT, batchSize, 10);
        for (int i = 0; i < batchSize; i++) {
            labels.putScalar(i, i % 10, 1f);
        }
        DataSet batch = new DataSet(features, labels);
        for (int i = 0; i < warmupSteps; i++) {
            TrainingBatches.fit(graph, batch);
        }
        double[] millis = new double[steps];
        for (int i = 0; i < steps; i++) {
            long t = System.nanoTime();
            TrainingBatches.fit(graph, batch);
            millis[i] = (System.nanoTime() - t) / 1e6;
        }
        Arrays.sort(millis);
        double median = millis[steps / 2];
        System.out.printf(Locale.ROOT, "model %s, input %s, batch %d, norm %s, threads %d, OneDNN helpers %s (%s)%n", model, shape, batchSize, norm,
                Nd4j.getEnvironment().maxThreads(), helpers ? "requested on" : "off", OneDnn.probe().detail());
        System.out.printf(Locale.ROOT, "step time over %d steps: median %.1f ms, p10 %.1f ms, p90 %.1f ms; %.1f images/s%n",
                steps, median, millis[steps / 10], millis[(steps * 9) / 10], batchSize * 1000 / median);
        return 0;
    }
}
