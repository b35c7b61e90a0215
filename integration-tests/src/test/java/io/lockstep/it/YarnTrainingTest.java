package io.lockstep.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.it.harness.Await;
import io.lockstep.it.harness.MiniYarn;
import io.lockstep.it.harness.SparkSubmitter;
import io.lockstep.it.harness.SubmitResult;
import io.lockstep.it.harness.SubmittedApplication;
import io.lockstep.worker.train.CheckpointStore;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.yarn.api.records.ApplicationId;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Lockstep on YARN as a user runs it: {@code spark-submit --master yarn} in both deploy modes against
 * an in-process YARN cluster (two NodeManagers) whose default file system is an in-process HDFS; the
 * data, checkpoints and results live on HDFS. Both submissions train the same deterministic job, so
 * both must end with the same parameters, even though the second loses an executor on the way. Two
 * submissions rather than three keep the test's cost down.
 */
class YarnTrainingTest {
    private static final Logger LOG = LoggerFactory.getLogger(YarnTrainingTest.class);
    private static final Duration APP_TIMEOUT = Duration.ofMinutes(10);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int STEPS = 30;
    private static final int CHECKPOINT_EVERY = 10;
    private static final String[] JOB = {"--model", "lenet5", "--replicas", "2", "--epochs", "2",
            "--max-steps-per-epoch", Integer.toString(STEPS), "--batch-size", "32", "--lr", "0.02", "--lr-decay", "none",
            "--seed", "17", "--checkpoint-every", Integer.toString(CHECKPOINT_EVERY), "--keep-checkpoints", "0",
            "--collective-timeout-ms", "30000"};

    private static MiniYarn yarn;
    private static String data;
    private static float[] reference;
    private static boolean referenceFailed;

    @BeforeAll
    static void startYarn() throws IOException {
        yarn = MiniYarn.start(2, 4096, 2);
        data = yarn.hdfs().uri("/datasets/fashion-mnist-small");
        yarn.hdfs().fileSystem().copyFromLocalFile(new Path(Lockstep.SUBSET.toUri()), new Path(data));
    }

    @AfterAll
    static void stopYarn() {
        if (yarn != null) {
            yarn.close();
        }
    }

    private static SparkSubmitter submit(String deployMode, String name, String out) {
        List<String> args = new ArrayList<>(List.of("train", "--data", data, "--out", out));
        args.addAll(List.of(JOB));
        // The settings deploy/yarn/ gives users (two executors of one core each: one replica per executor),
        // with the memory sized down to this machine.
        return yarn.submitter(deployMode).name(name).mainClass(Lockstep.MAIN).appResource(Lockstep.submitJarOnEveryHost())
                .propertiesFile(Lockstep.ROOT.resolve("deploy/yarn/spark-defaults.conf")).loadSparkDefaults()
                .conf("spark.executor.memory", "1200m")
                .conf("spark.executor.memoryOverhead", "512m")
                .conf("spark.driver.memory", "1g")
                .conf("spark.yarn.am.memory", "512m")
                .args(args.toArray(String[]::new));
    }

    /** The uninterrupted run in client deploy mode, trained once and shared by the tests. */
    private static synchronized float[] reference() {
        if (reference == null) {
            if (referenceFailed) {
                throw new IllegalStateException("the uninterrupted client-mode run failed: see the client-mode test");
            }
            referenceFailed = true;
            String out = yarn.hdfs().uri("/runs/client");
            SubmitResult result = submit("client", "yarn-client", out).run(APP_TIMEOUT);
            assertEquals(0, result.exitCode(), () -> result.describe() + yarn.describe());
            JsonNode summary = summary(out);
            assertEquals(2, summary.get("replicas").asInt());
            assertEquals(0, summary.get("stage_retries").asInt(), summary.toString());
            assertTrue(summary.get("test_accuracy").asDouble() >= 0.5, "2 replicas learned (10 classes): " + summary);
            LOG.info("MEASURED yarn client mode, 2 replicas x 2 epochs x {} steps: {} ms from submit to exit, test accuracy {}",
                    STEPS, result.elapsed().toMillis(), summary.get("test_accuracy").asDouble());
            reference = parameters(out);
            referenceFailed = false;
        }
        return reference;
    }

    @Test
    void clientDeployModeTrainsTwoReplicasToCompletion() {
        // reference() submits and asserts: exit code 0, 2 replicas, no stage retry, learned; the model loads from HDFS.
        assertTrue(reference().length > 0, "the trained model has parameters");
    }

    /**
     * Cluster deploy mode (the driver in the application master's container), with one executor
     * container killed with SIGKILL in the middle of epoch 2: YARN replaces it, Spark reruns the
     * epoch's stage from the newest checkpoint, and the job ends with exactly the parameters of the
     * uninterrupted client-mode run.
     */
    @Test
    void clusterDeployModeSurvivesAKilledExecutorContainerAndEndsWithTheUninterruptedParameters() {
        float[] uninterrupted = reference();
        String out = yarn.hdfs().uri("/runs/cluster-killed");
        CheckpointStore checkpoints = new CheckpointStore(out + "/checkpoints", yarn.hdfs().configuration());
        SubmitResult finished;
        long killNanos;
        try (SubmittedApplication app = submit("cluster", "yarn-cluster-killed-executor", out).start()) {
            // Epoch 2 (1 completed) has passed a checkpoint (step 10 of 30, or 20 if the poll missed it):
            // kill one replica's container now, while the epoch's barrier stage runs.
            Await.withSystemClock().until("a checkpoint in the middle of epoch 2", APP_TIMEOUT, () -> {
                app.driver().requireAlive("the mid-epoch checkpoint");
                return checkpoints.list().stream()
                        .filter(c -> c.epochsCompleted() == 1 && c.stepInEpoch() > 0).findFirst();
            }, () -> app.driver().describe() + yarn.describe());
            ApplicationId application = yarn.runningApplication();
            Map<String, Long> executors = yarn.executorPids(application);
            assertEquals(2, executors.size(), () -> "two executor containers run: " + executors + "\n" + yarn.describe());
            String victim = executors.keySet().iterator().next();
            killNanos = System.nanoTime();
            yarn.killExecutor(application, victim);
            LOG.info("killed executor {} (pid {}) of {} in the middle of epoch 2", victim, executors.get(victim), application);
            finished = app.awaitExit(APP_TIMEOUT);
        }
        SubmitResult result = finished;
        assertEquals(0, result.exitCode(), () -> result.describe() + yarn.describe());
        JsonNode summary = summary(out);
        assertEquals(2, summary.get("replicas").asInt());
        assertTrue(summary.get("stage_retries").asInt() >= 1, "the summary shows the stage retry: " + summary);
        LOG.info("MEASURED yarn cluster mode: kill -9 of an executor container mid-epoch -> job finished {} ms later "
                + "({} ms from submit); retries {}", (System.nanoTime() - killNanos) / 1_000_000, result.elapsed().toMillis(),
                summary.get("stage_retry_details"));
        assertEquals(0.0, Lockstep.maxAbsDifference(uninterrupted, parameters(out)), 1e-6,
                "final parameters equal those of the uninterrupted client-mode run");
    }

    private static JsonNode summary(String out) {
        try (FSDataInputStream in = yarn.hdfs().fileSystem().open(new Path(out + "/summary.json"))) {
            return JSON.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the summary of " + out, e);
        }
    }

    private static float[] parameters(String out) {
        try (FSDataInputStream in = yarn.hdfs().fileSystem().open(new Path(out + "/model.zip"))) {
            ComputationGraph graph = ModelSerializer.restoreComputationGraph(in, false);
            return graph.params().toFloatVector();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the model of " + out, e);
        }
    }
}
