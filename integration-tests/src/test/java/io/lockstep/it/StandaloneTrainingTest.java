package io.lockstep.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.driver.data.DatasetSource;
import io.lockstep.driver.data.LoadedDataset;
import io.lockstep.driver.report.RunOutput;
import io.lockstep.driver.train.ModelFile;
import io.lockstep.it.harness.Await;
import io.lockstep.it.harness.SparkSubmitter;
import io.lockstep.it.harness.SparkWorker;
import io.lockstep.it.harness.StandaloneSparkCluster;
import io.lockstep.it.harness.SubmitResult;
import io.lockstep.it.harness.SubmittedApplication;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.train.CheckpointStore;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Lockstep on a real standalone Spark cluster on loopback — a Master and two Workers (one core each)
 * as separate JVMs — submitted the way a user submits it: spark-submit of the application jar. The
 * cluster runs one job at a time, so the tests share one uninterrupted training run where they can.
 */
class StandaloneTrainingTest {
    private static final Logger LOG = LoggerFactory.getLogger(StandaloneTrainingTest.class);
    private static final Duration APP_TIMEOUT = Duration.ofMinutes(6);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A short deterministic job whose executor the killed-executor test kills in the middle of epoch 2. */
    private static final String[] KILL_JOB = {"--epochs", "3", "--max-steps-per-epoch", "30", "--batch-size", "32",
            "--lr", "0.02", "--lr-decay", "none", "--seed", "11", "--checkpoint-every", "10", "--keep-checkpoints", "0"};

    @TempDir
    static Path shared;

    private static StandaloneSparkCluster cluster;
    private static Path uninterrupted;
    private static boolean uninterruptedFailed;

    @BeforeAll
    static void startCluster() {
        cluster = StandaloneSparkCluster.builder().workers(2).coresPerWorker(1).memoryPerWorkerMb(2048).start();
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    private static SparkSubmitter submit(String name, Path out, String... trainOptions) {
        List<String> args = new ArrayList<>(List.of("train", "--model", "lenet5", "--data", Lockstep.SUBSET.toString(),
                "--replicas", "2", "--out", out.toString(), "--collective-timeout-ms", "30000"));
        args.addAll(List.of(trainOptions));
        return SparkSubmitter.to(cluster).name(name).mainClass(Lockstep.MAIN).appJar(Lockstep.submitJar())
                .conf("spark.executor.memory", "1200m")
                .args(args.toArray(String[]::new));
    }

    @Test
    void twoReplicasOnTwoExecutorsLearnFashionMnist() throws Exception {
        // The uninterrupted run (3 epochs of 30 steps, 2 x 32 images a step) is the learning run too:
        // one submission fewer than a separate job on a cluster that runs one job at a time.
        Path out = uninterrupted();
        JsonNode summary = JSON.readTree(out.resolve("summary.json").toFile());
        assertEquals(2, summary.get("replicas").asInt());
        double accuracy = summary.get("test_accuracy").asDouble();
        LOG.info("MEASURED standalone 2 replicas, 3 x 30 steps of the subset: test accuracy {}, {} img/s, wall {} s", accuracy,
                summary.get("images_per_second").asDouble(), summary.get("wall_seconds").asDouble());
        assertTrue(accuracy >= 0.70, "5,760 images of the shipped subset with 2 replicas: test accuracy " + accuracy);
    }

    /** The uninterrupted run of {@link #KILL_JOB}, trained once and shared by the tests. */
    private static synchronized Path uninterrupted() {
        if (uninterrupted == null) {
            if (uninterruptedFailed) {
                throw new IllegalStateException("the uninterrupted run failed: see the first test of this class that failed");
            }
            uninterruptedFailed = true;
            Path out = shared.resolve("uninterrupted");
            SubmitResult result = submit("uninterrupted", out, KILL_JOB).run(APP_TIMEOUT);
            assertEquals(0, result.exitCode(), () -> result.describe() + cluster.describe());
            uninterrupted = out;
            uninterruptedFailed = false;
        }
        return uninterrupted;
    }

    @Test
    void killedExecutorMidEpochRetriesTheStageAndEndsWithTheUninterruptedParameters(@TempDir Path dir) throws Exception {
        Path reference = uninterrupted();
        Path out = dir.resolve("interrupted");
        Path checkpoints = out.resolve("checkpoints");
        long killedPid;
        long killNanos;
        SubmitResult interrupted;
        try (SubmittedApplication app = submit("killed-executor", out, KILL_JOB).start()) {
            // Epoch 2 (1 completed) has passed its step-10 checkpoint: kill a replica's executor now.
            Await.withSystemClock().until("a checkpoint in the middle of epoch 2", APP_TIMEOUT, () -> {
                app.driver().requireAlive("the mid-epoch checkpoint");
                return Lockstep.checkpoints(checkpoints).stream()
                        .filter(c -> c.epochsCompleted() == 1 && c.stepInEpoch() == 10).findFirst();
            }, () -> app.driver().describe() + cluster.describe());
            killedPid = cluster.executorPids().get(0).get(0);
            killNanos = System.nanoTime();
            SparkWorker worker = cluster.killExecutor(killedPid, Duration.ofSeconds(30));
            LOG.info("killed executor {} on worker {} in the middle of epoch 2", killedPid, worker.index());
            interrupted = app.awaitExit(APP_TIMEOUT);
        }
        SubmitResult finished = interrupted;
        assertEquals(0, finished.exitCode(), () -> finished.describe() + cluster.describe());
        JsonNode summary = JSON.readTree(out.resolve("summary.json").toFile());
        assertTrue(summary.get("stage_retries").asInt() >= 1, "the summary shows the stage retry: " + summary);
        LOG.info("MEASURED kill -9 of an executor mid-epoch -> job finished {} ms later; retries {}",
                (System.nanoTime() - killNanos) / 1_000_000, summary.get("stage_retry_details"));

        double difference = Lockstep.maxAbsDifference(Lockstep.finalParameters(reference), Lockstep.finalParameters(out));
        assertEquals(0.0, difference, 1e-6, "final parameters equal those of the uninterrupted run");
        List<CheckpointStore.Checkpoint> written = Lockstep.checkpoints(checkpoints);
        assertTrue(written.stream().anyMatch(c -> c.epochsCompleted() == 3), "the last epoch was checkpointed: " + written);
        Optional<JsonNode> epoch2 = metricsOf(out).stream().filter(n -> "epoch".equals(n.get("type").asText())
                && n.get("epoch").asInt() == 2).reduce((a, b) -> b);
        assertTrue(epoch2.isPresent(), "epoch 2 was reported");
    }

    @Test
    void predictOnTwoExecutorsWritesParquetEqualToSingleJvmOutput(@TempDir Path dir) throws Exception {
        // Any trained lenet5 will do: the uninterrupted run's, rather than training one more model.
        File modelFile = uninterrupted().resolve(RunOutput.MODEL).toFile();
        Path predictions = dir.resolve("predictions");
        // The subset's training split: 10,000 images, predicted by two executors of one core each.
        SubmitResult result = SparkSubmitter.to(cluster).name("predict").mainClass(Lockstep.MAIN).appJar(Lockstep.submitJar())
                .conf("spark.executor.memory", "1200m")
                .args("predict", "--model-file", modelFile.toString(), "--data", Lockstep.SUBSET.toString(), "--split", "train",
                        "--out", predictions.toString(), "--batch-size", "256")
                .run(APP_TIMEOUT);
        assertEquals(0, result.exitCode(), () -> result.describe() + cluster.describe());
        LOG.info("MEASURED standalone predict, 2 executors x 1 core, lenet5: {}", result.stdout().lines()
                .filter(line -> line.startsWith("wrote ")).findFirst().orElse("(no summary line)"));

        LoadedDataset data = DatasetSource.open(Lockstep.SUBSET.toString(), new Configuration());
        List<LabeledRecord> records = data.train();
        assertEquals(10_000, records.size());
        Group[] byIndex = new Group[records.size()];
        Set<String> writers = new HashSet<>();
        for (Path part : parquetFiles(predictions)) {
            try (ParquetReader<Group> reader = ParquetReader.builder(new GroupReadSupport(),
                    new org.apache.hadoop.fs.Path(part.toUri())).build()) {
                for (Group row = reader.read(); row != null; row = reader.read()) {
                    int index = Integer.parseInt(row.getString("id", 0).substring("train:".length()));
                    assertNull(byIndex[index], "record " + index + " predicted twice");
                    byIndex[index] = row;
                    writers.add(part.getFileName().toString());
                }
            }
        }
        assertTrue(writers.size() >= 2, "written by several tasks: " + writers);
        ComputationGraph graph = ModelFile.readGraph(modelFile);
        ModelFile.Info info = ModelFile.readInfo(modelFile);
        LoadedDataset decoding = data.withTransform(info.transform());
        for (int from = 0; from < records.size(); from += 1000) {
            List<LabeledRecord> batch = records.subList(from, Math.min(records.size(), from + 1000));
            INDArray expected = graph.outputSingle(false, decoding.decoder().decode(batch, false, 0, 0, 0, -1).getFeatures());
            for (int i = 0; i < batch.size(); i++) {
                Group row = byIndex[from + i];
                assertNotNull(row, "record " + (from + i) + " has no prediction");
                assertEquals(batch.get(i).label(), row.getInteger("label", 0));
                assertEquals(expected.getRow(i).argMax().getInt(0), row.getInteger("predicted", 0), "record " + (from + i));
                Group probabilities = row.getGroup("probabilities", 0);
                for (int c = 0; c < info.classNames().size(); c++) {
                    assertEquals(expected.getFloat(i, c), probabilities.getGroup("list", c).getFloat("element", 0), 1e-5f,
                            "record " + (from + i) + ", class " + c);
                }
            }
        }
    }

    private static List<Path> parquetFiles(Path dir) throws Exception {
        try (var files = java.nio.file.Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".parquet")).sorted().toList();
        }
    }

    private static List<JsonNode> metricsOf(Path out) throws Exception {
        List<JsonNode> nodes = new ArrayList<>();
        for (String line : java.nio.file.Files.readAllLines(out.resolve("metrics.jsonl"))) {
            nodes.add(JSON.readTree(line));
        }
        return nodes;
    }
}
