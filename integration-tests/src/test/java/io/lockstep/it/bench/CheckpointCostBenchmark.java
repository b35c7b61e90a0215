package io.lockstep.it.bench;

import io.lockstep.it.harness.MiniHdfs;
import io.lockstep.models.Normalization;
import io.lockstep.worker.train.CheckpointMeta;
import io.lockstep.worker.train.CheckpointStore;
import io.lockstep.worker.train.ModelRecipe;
import io.lockstep.worker.train.Optimizer;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Benchmark (prints figures, asserts nothing; not part of the default run): the cost of one
 * checkpoint of resnet50's parameters and Nesterov optimizer state, written atomically to the local
 * filesystem and to an in-process HDFS, and read back. The optimizer state is filled with small random
 * values, as after training: a freshly built graph's momentum is all zeros and would compress to nothing,
 * which no checkpoint taken during training does.
 *
 * <pre>mvn -B -pl integration-tests test -Dtest=CheckpointCostBenchmark -Dlockstep.bench=true</pre>
 */
@EnabledIfSystemProperty(named = "lockstep.bench", matches = "true")
class CheckpointCostBenchmark {
    private static final int REPEATS = 3;

    @Test
    void resnet50CheckpointToLocalDiskAndHdfs(@TempDir Path dir) throws IOException {
        ModelRecipe recipe = new ModelRecipe("resnet50", 1000, 3, 224, 224, Normalization.BATCH, 1L, Optimizer.NESTEROV, 0.1, 1e-4);
        ComputationGraph graph = recipe.build();
        Nd4j.getRandom().setSeed(1);
        INDArray momentum = graph.getUpdater().getStateViewArray();
        momentum.assign(Nd4j.randn(momentum.dataType(), momentum.shape()).muli(1e-3));
        long parameters = graph.numParams();
        long updaterState = graph.getUpdater().getStateViewArray().length();
        System.out.printf("BENCH resnet50: %,d parameters (incl. BatchNorm statistics) + %,d optimizer state floats = %.1f MB%n",
                parameters, updaterState, (parameters + updaterState) * 4 / 1e6);
        deflatedReference(graph, dir.resolve("deflated.zip"));
        measure("local filesystem", new CheckpointStore(dir.resolve("ckpt").toUri().toString(), new Configuration()), graph, recipe);
        try (MiniHdfs hdfs = MiniHdfs.start()) {
            measure("in-process HDFS (1 datanode)", new CheckpointStore(hdfs.uri("/ckpt"), hdfs.configuration()), graph, recipe);
        }
    }

    /** DL4J's own writer (every entry deflated) on the same disk, for comparison with the stored entries measured below. */
    private static void deflatedReference(ComputationGraph graph, Path file) throws IOException {
        double[] write = new double[REPEATS];
        double[] read = new double[REPEATS];
        for (int i = 0; i < REPEATS; i++) {
            long t0 = System.nanoTime();
            ModelSerializer.writeModel(graph, file.toFile(), true);
            long t1 = System.nanoTime();
            ModelSerializer.restoreComputationGraph(file.toFile(), true);
            long t2 = System.nanoTime();
            write[i] = (t1 - t0) / 1e9;
            read[i] = (t2 - t1) / 1e9;
        }
        Arrays.sort(write);
        Arrays.sort(read);
        System.out.printf("BENCH DL4J's ModelSerializer (deflated, %.1f MB), local file: write %.2f s (median of %d, min %.2f, max %.2f);"
                        + " read %.2f s (min %.2f, max %.2f)%n", Files.size(file) / 1e6, write[REPEATS / 2], REPEATS, write[0],
                write[REPEATS - 1], read[REPEATS / 2], read[0], read[REPEATS - 1]);
    }

    private static void measure(String where, CheckpointStore store, ComputationGraph graph, ModelRecipe recipe) {
        double[] write = new double[REPEATS];
        double[] read = new double[REPEATS];
        for (int i = 0; i < REPEATS; i++) {
            long t0 = System.nanoTime();
            CheckpointStore.Checkpoint checkpoint = store.save(graph, new CheckpointMeta(i + 1, 0, i + 1, 1, recipe, List.of(),
                    "batch", Map.of()), 1);
            long t1 = System.nanoTime();
            store.loadModel(checkpoint);
            long t2 = System.nanoTime();
            write[i] = (t1 - t0) / 1e9;
            read[i] = (t2 - t1) / 1e9;
        }
        Arrays.sort(write);
        Arrays.sort(read);
        System.out.printf("BENCH %s: write %.2f s (median of %d, min %.2f, max %.2f); read %.2f s (min %.2f, max %.2f)%n",
                where, write[REPEATS / 2], REPEATS, write[0], write[REPEATS - 1], read[REPEATS / 2], read[0], read[REPEATS - 1]);
    }
}
