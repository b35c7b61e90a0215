package io.lockstep.driver.train;

import io.lockstep.driver.Main;
import io.lockstep.driver.report.RunOutput;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Gradient buckets overlapped with backward, through the command line on Spark: the same parameters,
 * bit for bit, as the whole gradient exchanged after backward, with synchronized BatchNorm reducing on
 * the same communication agent. (The bucketed exchange keeps no state between steps, so checkpoints and
 * resume are those of the plain exchange; kept to one epoch per run for the suite's time budget.)
 */
class OverlapTrainingTest {
    @TempDir
    Path dir;

    private String[] args(Path out, int epochs, String... extra) {
        List<String> args = new ArrayList<>(List.of("train", "--model", "lenet5",
                "--data", SingleReplicaTrainingTest.SUBSET.toString(), "--epochs", Integer.toString(epochs),
                "--max-steps-per-epoch", "4", "--lr", "0.02", "--lr-scaling", "none", "--lr-decay", "none",
                "--seed", "5", "--check-every", "2", "--replicas", "2", "--batch-size", "16", "--norm", "sync-batch",
                "--out", out.toString()));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    private static float[] params(Path out) {
        return ModelFile.readGraph(out.resolve(RunOutput.MODEL).toFile()).params().toFloatVector();
    }

    @Test
    void overlappedBucketsGiveTheParametersOfTheExchangeAfterBackward() {
        Path after = dir.resolve("after-backward");
        assertEquals(0, Main.run(args(after, 1, "--overlap", "off")));

        Path overlapped = dir.resolve("overlapped");
        // 50 KB buckets cut lenet5's gradient into several, so some leave during backward.
        assertEquals(0, Main.run(args(overlapped, 1, "--overlap", "on", "--bucket-size", "0.05")));

        // With 2 replicas each element's average is (a + b) / 2 however the gradient is cut into buckets.
        assertArrayEquals(params(after), params(overlapped), "overlap on equals overlap off");
    }
}
