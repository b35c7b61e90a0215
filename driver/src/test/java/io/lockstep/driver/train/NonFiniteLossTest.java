package io.lockstep.driver.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.driver.ConsoleCapture;
import io.lockstep.driver.Main;
import io.lockstep.driver.report.RunOutput;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A learning rate that makes the gradient overflow: `--on-nan stop` names where, `skip-step` carries on. */
class NonFiniteLossTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static String[] job(Path out, String policy) {
        List<String> args = new ArrayList<>(List.of("train", "--model", "lenet5", "--data", SingleReplicaTrainingTest.SUBSET.toString(),
                "--replicas", "2", "--batch-size", "16", "--epochs", "2", "--max-steps-per-epoch", "6", "--optimizer", "sgd",
                "--lr", "1e30", "--lr-scaling", "none", "--lr-decay", "none", "--on-nan", policy, "--out", out.toString()));
        return args.toArray(String[]::new);
    }

    @Test
    void stopNamesTheEpochTheStepAndTheLastGoodCheckpoint(@TempDir Path dir) {
        ConsoleCapture.Result result = ConsoleCapture.stderr(() -> Main.run(job(dir.resolve("stop"), "stop")));
        String message = result.text();
        assertEquals(1, result.exit(), message);
        assertTrue(message.contains("non-finite at epoch 1, step"), message);
        assertTrue(message.contains("last good checkpoint"), message);
    }

    @Test
    void skipStepSkipsEveryNonFiniteStepOnAllReplicasAndFinishes(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("skip");
        assertEquals(0, Main.run(job(out, "skip-step")));
        long skipped = 0;
        for (String line : java.nio.file.Files.readAllLines(out.resolve(RunOutput.METRICS))) {
            JsonNode node = JSON.readTree(line);
            if ("epoch".equals(node.get("type").asText())) {
                skipped += node.get("skipped_steps").asLong();
            }
        }
        assertTrue(skipped > 0, "some steps were skipped");
    }
}
