package io.lockstep.driver.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.driver.Main;
import io.lockstep.driver.report.RunOutput;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Several replicas in Spark local mode, through the command line: one barrier stage per epoch, the
 * gradients averaged over Aeron every step. Equivalent to one replica with the global batch, and
 * deterministic for a given seed.
 */
class DistributedTrainingTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private float[] train(String name, String... extra) {
        Path out = dir.resolve(name);
        List<String> args = new ArrayList<>(List.of("train", "--model", "lenet5",
                "--data", SingleReplicaTrainingTest.SUBSET.toString(), "--epochs", "2", "--max-steps-per-epoch", "5",
                "--lr", "0.02", "--lr-scaling", "none", "--lr-decay", "none", "--seed", "5", "--check-every", "3",
                "--out", out.toString()));
        args.addAll(Arrays.asList(extra));
        assertEquals(0, Main.run(args.toArray(String[]::new)), "train " + name);
        ComputationGraph graph = ModelFile.readGraph(out.resolve(RunOutput.MODEL).toFile());
        return graph.params().toFloatVector();
    }

    @Test
    void twoReplicasEqualOneReplicaWithTheGlobalBatchAndAreDeterministic() throws Exception {
        float[] single = train("single", "--replicas", "1", "--batch-size", "32");
        // The two-replica run is the one other test classes share (the same job as this class's runs).
        Path two = SharedRuns.twoReplicas();
        float[] twoReplicas = single(two);
        // The rerun takes its job secret from Spark's authentication secret and encrypts: same parameters.
        float[] again;
        System.setProperty("spark.authenticate", "true");
        try {
            again = train("two-again", "--replicas", "2", "--batch-size", "16", "--wire-security", "encrypt");
        } finally {
            System.clearProperty("spark.authenticate");
        }

        assertArrayEquals(twoReplicas, again, "same seed, same parameters, bit for bit");
        double maxDiff = 0;
        for (int i = 0; i < single.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(single[i] - twoReplicas[i]));
        }
        assertTrue(maxDiff < 1e-5, "2 replicas x 16 vs 1 replica x 32: max |difference| " + maxDiff);

        JsonNode summary = JSON.readTree(two.resolve(RunOutput.SUMMARY).toFile());
        assertEquals(2, summary.get("replicas").asInt());
        assertEquals("auth", summary.get("wire_security").asText(), "authenticated by default");
        assertEquals("random", summary.get("job_secret").asText());
        JsonNode rerun = JSON.readTree(dir.resolve("two-again").resolve(RunOutput.SUMMARY).toFile());
        assertEquals("encrypt", rerun.get("wire_security").asText());
        assertEquals("spark.authenticate", rerun.get("job_secret").asText());
        long exchanged = java.nio.file.Files.readAllLines(two.resolve(RunOutput.METRICS)).stream()
                .filter(l -> l.contains("\"type\":\"step\""))
                .map(l -> {
                    try {
                        return JSON.readTree(l).get("bytes_sent_per_replica").asLong();
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                })
                .filter(b -> b > 0).count();
        assertEquals(10, exchanged, "every step exchanged gradients");
    }

    /**
     * Each epoch is a new stage with new strategy objects, so the threshold strategy's residuals and τ
     * cross every epoch boundary through the checkpoint: each replica's own state is stored there, and a
     * run resumed from it ends exactly where the uninterrupted run ends.
     */
    @Test
    void thresholdExchangeStateTravelsInCheckpointsAndResumesExactly() {
        float[] straight = train("straight", "--replicas", "2", "--batch-size", "16", "--exchange", "threshold");
        Path resumedOut = dir.resolve("resumed");
        String[] firstEpoch = {"train", "--model", "lenet5", "--data", SingleReplicaTrainingTest.SUBSET.toString(),
                "--epochs", "1", "--max-steps-per-epoch", "5", "--lr", "0.02", "--lr-scaling", "none", "--lr-decay", "none",
                "--seed", "5", "--check-every", "3", "--replicas", "2", "--batch-size", "16", "--exchange", "threshold",
                "--out", resumedOut.toString()};
        assertEquals(0, Main.run(firstEpoch));

        io.lockstep.worker.train.CheckpointStore store = new io.lockstep.worker.train.CheckpointStore(
                resumedOut.resolve("checkpoints").toUri().toString(), new org.apache.hadoop.conf.Configuration());
        io.lockstep.worker.train.CheckpointStore.Checkpoint checkpoint = store.latest().orElseThrow();
        float[] residual0 = store.loadExchangeState(checkpoint, 0).get("residual");
        float[] residual1 = store.loadExchangeState(checkpoint, 1).get("residual");
        assertEquals(single(resumedOut).length, residual0.length, "one residual entry per parameter");
        assertTrue(NonZero.any(residual0), "replica 0 kept unsent gradient in its residual");
        assertTrue(!Arrays.equals(residual0, residual1), "each replica's own residual is stored");

        String[] secondEpoch = Arrays.copyOf(firstEpoch, firstEpoch.length + 1);
        secondEpoch[6] = "2";
        secondEpoch[firstEpoch.length] = "--resume";
        assertEquals(0, Main.run(secondEpoch));
        assertArrayEquals(straight, single(resumedOut), "the resumed run ends where the uninterrupted run ends");
    }

    private static float[] single(Path out) {
        return ModelFile.readGraph(out.resolve(RunOutput.MODEL).toFile()).params().toFloatVector();
    }

    private static final class NonZero {
        static boolean any(float[] values) {
            for (float v : values) {
                if (v != 0) {
                    return true;
                }
            }
            return false;
        }
    }

    /**
     * The time synchronized BatchNorm spends in its collectives is reported per step, apart from
     * compute; with per-replica BatchNorm there is none.
     */
    @Test
    void batchNormCommunicationIsMeasuredPerStepOnlyUnderSyncBatchNorm() throws Exception {
        Path tiny = dir.resolve("tiny");
        assertEquals(0, Main.run("make-subset", "--from", SingleReplicaTrainingTest.SUBSET.toString(),
                "--train-per-class", "2", "--test-per-class", "1", "--out", tiny.toString()));
        for (String norm : new String[]{"sync-batch", "batch"}) {
            Path out = dir.resolve("bn-" + norm);
            assertEquals(0, Main.run("train", "--model", "resnet20", "--data", tiny.toString(), "--replicas", "2",
                    "--batch-size", "4", "--epochs", "1", "--max-steps-per-epoch", "2", "--norm", norm,
                    "--out", out.toString()), "train --norm " + norm);
            List<JsonNode> metrics = new ArrayList<>();
            for (String line : java.nio.file.Files.readAllLines(out.resolve(RunOutput.METRICS))) {
                metrics.add(JSON.readTree(line));
            }
            List<JsonNode> steps = metrics.stream().filter(m -> m.get("type").asText().equals("step")).toList();
            JsonNode epoch = metrics.stream().filter(m -> m.get("type").asText().equals("epoch")).findFirst().orElseThrow();
            assertEquals(2, steps.size());
            for (JsonNode step : steps) {
                double normSyncMs = step.get("norm_sync_ms").asDouble();
                if (norm.equals("sync-batch")) {
                    assertTrue(normSyncMs > 0, "sync BatchNorm communicated in step " + step);
                } else {
                    assertEquals(0.0, normSyncMs, "plain BatchNorm never communicates: " + step);
                }
            }
            assertEquals(norm.equals("sync-batch"), epoch.get("norm_sync_share").asDouble() > 0, epoch.toString());
        }
    }

    @Test
    void moreReplicasThanSlotsFailsFastNamingBoth() {
        int code = Main.run("train", "--model", "lenet5", "--data", SingleReplicaTrainingTest.SUBSET.toString(),
                "--replicas", "3", "--master", "local[2]", "--out", dir.resolve("too-many").toString());
        assertEquals(2, code);
    }
}
