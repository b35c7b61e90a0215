package io.lockstep.driver.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.driver.ConsoleCapture;
import io.lockstep.driver.Main;
import io.lockstep.driver.report.RunOutput;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Single-replica training end to end, through the command line, on the shipped Fashion-MNIST subset
 * in Spark local mode: outputs exist, the model learns, and `evaluate` reproduces the accuracy.
 */
class SingleReplicaTrainingTest {
    static final Path SUBSET = Path.of("..", "data", "fashion-mnist-small").toAbsolutePath().normalize();
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path out;

    @BeforeAll
    static void train() {
        int code = Main.run("train", "--model", "lenet5", "--data", SUBSET.toString(), "--epochs", "2",
                "--batch-size", "32", "--max-steps-per-epoch", "60", "--lr", "0.01", "--out", out.toString());
        assertEquals(0, code, "train exit code");
    }

    @Test
    void writesSummaryMetricsAndModel() throws Exception {
        JsonNode summary = JSON.readTree(out.resolve(RunOutput.SUMMARY).toFile());
        assertEquals("lenet5", summary.get("model").asText());
        assertEquals(2, summary.get("epochs").asInt());
        double accuracy = summary.get("test_accuracy").asDouble();
        assertTrue(accuracy > 0.6, "120 steps of LeNet-5 learn Fashion-MNIST well above chance (0.1), got " + accuracy);
        assertTrue(summary.get("images_per_second").asDouble() > 0);

        List<String> lines = Files.readAllLines(out.resolve(RunOutput.METRICS));
        long steps = lines.stream().filter(l -> l.contains("\"type\":\"step\"")).count();
        long epochs = lines.stream().filter(l -> l.contains("\"type\":\"epoch\"")).count();
        assertEquals(120, steps);
        assertEquals(2, epochs);
        assertTrue(lines.get(0).contains("\"type\":\"run\""), "the run's options and environment come first");
        JsonNode firstStep = JSON.readTree(lines.stream().filter(l -> l.contains("\"type\":\"step\"")).findFirst().orElseThrow());
        for (String field : new String[]{"loss", "compute_ms", "exchange_ms", "data_wait_ms", "images_per_second"}) {
            assertTrue(firstStep.has(field), "step metrics have " + field);
        }
        assertTrue(Files.size(out.resolve(RunOutput.MODEL)) > 1_000_000, "model.zip holds LeNet-5's 1.26M parameters");
    }

    @Test
    void evaluateReproducesTheTrainingAccuracy() throws Exception {
        JsonNode summary = JSON.readTree(out.resolve(RunOutput.SUMMARY).toFile());
        ConsoleCapture.Result result = ConsoleCapture.stdout(() ->
                Main.run("evaluate", "--model-file", out.resolve(RunOutput.MODEL).toString(), "--data", SUBSET.toString()));
        assertEquals(0, result.exit());
        String report = result.text();
        String expected = String.format("accuracy %.4f on 2000 test images", summary.get("test_accuracy").asDouble());
        assertTrue(report.contains(expected), "expected '" + expected + "' in:\n" + report);
        assertTrue(report.contains("confusion matrix"), report);
    }

    @Test
    void badInputExitsWithTwoAndNamesTheProblem() {
        assertEquals(2, Main.run("train", "--model", "lenet5", "--data", "/nonexistent/dataset"));
        assertEquals(2, Main.run("train", "--model", "nosuchnet", "--data", SUBSET.toString()));
        assertEquals(2, Main.run("train", "--model", "lenet5", "--data", SUBSET.toString(), "--batch-size", "-3"));
        assertEquals(2, Main.run("evaluate", "--model-file", "/nonexistent/model.zip", "--data", SUBSET.toString()));
    }
}
