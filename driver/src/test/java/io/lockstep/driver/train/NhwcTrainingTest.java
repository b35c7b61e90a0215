package io.lockstep.driver.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.driver.ConsoleCapture;
import io.lockstep.driver.Main;
import io.lockstep.driver.report.RunOutput;
import io.lockstep.models.ActivationLayouts;
import io.lockstep.worker.train.CheckpointStore;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code train --layout nhwc}, through the command line, with two synchronous replicas (synchronized
 * BatchNorm) in Spark local mode on a tiny Fashion-MNIST subset (5 training and 2 test images per class):
 * resnet20 trains to the NCHW run's per-epoch losses with either convolution kernels (NHWC with OneDNN's
 * convolutions is what the defaults choose), resumes exactly from a checkpoint taken within an epoch —
 * in the checkpoint's layout by default — and is exported as the NCHW network. What --layout refuses
 * and what auto decides is in {@code TrainOptionsTest}.
 */
class NhwcTrainingTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Relative difference allowed between the layouts' losses: OneDNN sums in another order in NHWC. */
    private static final double LOSS_TOLERANCE = 1e-4;

    @TempDir
    static Path dir;
    private static Path data;
    private static Path nchw;
    private static Path nhwcDl4j;
    private static Path nhwcDnnl;

    @BeforeAll
    static void trainInBothLayouts() {
        data = dir.resolve("data");
        assertEquals(0, Main.run("make-subset", "--from", SingleReplicaTrainingTest.SUBSET.toString(), "--out", data.toString(),
                "--train-per-class", "5", "--test-per-class", "2"));
        nchw = train("nchw", "--layout", "nchw");
        nhwcDl4j = train("nhwc-dl4j", "--layout", "nhwc", "--conv-kernels", "dl4j");
        nhwcDnnl = train("nhwc-dnnl"); // what --layout auto and --conv-kernels auto choose for resnet20 on CPUs
    }

    /**
     * 2 replicas x 8 images, 2 epochs of 2 steps, a checkpoint after step 1 of each epoch. A constant rate
     * small enough for the layouts' float differences (1e-7 after a step) not to be amplified beyond the
     * tolerance: at 0.02 the loss still jumps up in the second step, and by the fifth the layouts (and
     * the two NHWC kernels among themselves) differ by 1e-3.
     */
    private static List<String> job(Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("train", "--model", "resnet20", "--data", data.toString(),
                "--replicas", "2", "--batch-size", "8", "--epochs", "2", "--max-steps-per-epoch", "2",
                "--lr", "0.005", "--lr-scaling", "none", "--lr-decay", "none", "--seed", "7", "--check-every", "2",
                "--checkpoint-every", "1", "--keep-checkpoints", "0", "--no-spark-ui", "--out", out.toString()));
        args.addAll(Arrays.asList(extra));
        return args;
    }

    private static Path train(String name, String... extra) {
        Path out = dir.resolve(name);
        assertEquals(0, Main.run(job(out, extra).toArray(String[]::new)), "train " + name);
        return out;
    }

    @Test
    void nhwcTrainsToTheNchwLossesWithEitherKernels() throws IOException {
        double[] reference = epochLosses(nchw);
        assertEquals(2, reference.length);
        assertClose(reference, epochLosses(nhwcDl4j), "--conv-kernels dl4j");
        assertClose(reference, epochLosses(nhwcDnnl), "--conv-kernels dnnl");
        JsonNode job = JSON.readTree(nhwcDnnl.resolve(RunOutput.SUMMARY).toFile()).path("job");
        assertEquals("nhwc", job.path("layout").asText());
        assertEquals("dnnl", job.path("conv-kernels").asText());
        // auto runs an NCHW zoo model's convolutions on OneDNN too: resnet20's conversion buffers are small
        assertEquals("dnnl", JSON.readTree(nchw.resolve(RunOutput.SUMMARY).toFile()).path("job").path("conv-kernels").asText());
    }

    @Test
    void checkpointsHoldTheNhwcNetworkOnDl4jLayers() {
        ComputationGraph checkpoint = lastCheckpoint(nhwcDnnl);
        String conf = checkpoint.getConfiguration().toJson();
        assertTrue(ActivationLayouts.isNhwc(checkpoint.getConfiguration()), "trained and checkpointed in NHWC");
        assertFalse(conf.contains("Dnnl") || conf.contains("SyncBatchNormalization"),
                "checkpoints hold DL4J's convolution path and DL4J's BatchNorm");
    }

    @Test
    void theExportedModelIsTheNchwNetworkWithTheCheckpointsWeights() throws IOException {
        ComputationGraph exported = ModelSerializer.restoreComputationGraph(nhwcDnnl.resolve(RunOutput.MODEL).toFile(), false);
        ComputationGraph exportedNchw = ModelSerializer.restoreComputationGraph(nchw.resolve(RunOutput.MODEL).toFile(), false);
        assertEquals(exportedNchw.getConfiguration().toJson(), exported.getConfiguration().toJson(),
                "the configuration an NCHW run exports");

        ComputationGraph checkpoint = lastCheckpoint(nhwcDnnl);
        assertArrayEquals(checkpoint.params().toFloatVector(), exported.params().toFloatVector(), 0f);
        Nd4j.getRandom().setSeed(3);
        INDArray images = Nd4j.rand(DataType.FLOAT, 4, 1, 28, 28);
        INDArray expected = checkpoint.outputSingle(false, images);
        INDArray actual = exported.outputSingle(false, images);
        double diff = expected.sub(actual).amaxNumber().doubleValue();
        assertTrue(diff < 1e-5, "predictions of the exported model differ from the trained one's by " + diff);
    }

    @Test
    void resumesExactlyFromACheckpointWithinAnEpoch() throws IOException {
        Path resumed = interrupted(nhwcDnnl, "nhwc-resumed");
        ConsoleCapture.Result wrongLayout = ConsoleCapture.stderr(() ->
                Main.run(job(resumed, "--layout", "nchw", "--resume").toArray(String[]::new)));
        assertEquals(2, wrongLayout.exit());
        assertTrue(wrongLayout.text().contains("was trained with --layout nhwc") && wrongLayout.text().contains("resume with --layout nhwc"),
                wrongLayout.text());

        assertEquals(0, Main.run(job(resumed, "--resume").toArray(String[]::new)));
        assertSameModel(nhwcDnnl, resumed);
    }

    @Test
    void theDefaultLayoutResumesAnNchwRunInNchw() throws IOException {
        Path resumed = interrupted(nchw, "nchw-resumed");
        assertEquals(0, Main.run(job(resumed, "--resume").toArray(String[]::new)));
        assertEquals("nchw", JSON.readTree(resumed.resolve(RunOutput.SUMMARY).toFile()).path("job").path("layout").asText());
        assertSameModel(nchw, resumed);
    }

    /** A copy of the run {@code out} as if the driver died during epoch 2's last step: the newest checkpoint is the one after its step 1. */
    private static Path interrupted(Path out, String name) throws IOException {
        Path copy = dir.resolve(name);
        copy(out, copy);
        try (Stream<Path> entries = Files.list(copy.resolve("checkpoints"))) {
            for (Path entry : entries.filter(p -> p.getFileName().toString().startsWith("checkpoint-00002-")).toList()) {
                delete(entry);
            }
        }
        return copy;
    }

    private static void assertSameModel(Path uninterruptedRun, Path resumedRun) throws IOException {
        ComputationGraph uninterrupted = ModelSerializer.restoreComputationGraph(uninterruptedRun.resolve(RunOutput.MODEL).toFile(), true);
        ComputationGraph continued = ModelSerializer.restoreComputationGraph(resumedRun.resolve(RunOutput.MODEL).toFile(), true);
        assertArrayEquals(uninterrupted.params().toFloatVector(), continued.params().toFloatVector(), 0f,
                "the same parameters, bit for bit");
        assertArrayEquals(uninterrupted.getUpdater().getStateViewArray().toFloatVector(),
                continued.getUpdater().getStateViewArray().toFloatVector(), 0f, "the same optimizer state");
    }

    private static double[] epochLosses(Path out) throws IOException {
        List<Double> losses = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve(RunOutput.METRICS))) {
            JsonNode record = JSON.readTree(line);
            if ("epoch".equals(record.path("type").asText())) {
                losses.add(record.get("loss").asDouble());
            }
        }
        return losses.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private static void assertClose(double[] expected, double[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": epochs");
        for (int i = 0; i < expected.length; i++) {
            double relative = Math.abs(expected[i] - actual[i]) / Math.abs(expected[i]);
            assertTrue(relative < LOSS_TOLERANCE, what + ": epoch " + (i + 1) + " loss " + actual[i] + " vs NCHW "
                    + expected[i] + " (relative difference " + relative + ")");
        }
    }

    private static ComputationGraph lastCheckpoint(Path out) {
        CheckpointStore store = new CheckpointStore(out.resolve("checkpoints").toString(), new Configuration());
        return store.loadModel(store.latest().orElseThrow());
    }

    private static void copy(Path from, Path to) throws IOException {
        try (Stream<Path> paths = Files.walk(from)) {
            for (Path source : paths.toList()) {
                Files.copy(source, to.resolve(from.relativize(source).toString()));
            }
        }
    }

    private static void delete(Path path) throws IOException {
        try (Stream<Path> paths = Files.walk(path)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
