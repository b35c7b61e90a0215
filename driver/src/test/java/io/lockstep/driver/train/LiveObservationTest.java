package io.lockstep.driver.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.api.TrainOptions;
import io.lockstep.api.TrainResult;
import io.lockstep.driver.cli.TrainCommand;
import io.lockstep.driver.report.RunOutput;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a user sees of a run while it trains: step records of the current epoch in metrics.jsonl with
 * every replica's timings, the Spark UI's REST API describing the epoch's jobs, and a stall report
 * naming a replica held back on purpose.
 */
class LiveObservationTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int STEPS = 10;
    /** Rank 0's last batch of each epoch waits for these, so the test looks at an epoch still running. */
    private static final CountDownLatch[] RELEASE_EPOCH = {new CountDownLatch(1), new CountDownLatch(1)};

    /** When rank 1's prefetch thread began each of its first batches: its pace, to scale the delay. */
    private static final long[] RANK1_BATCH_NANOS = new long[6];

    @TempDir
    Path dir;

    static TrainOptions options(Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("--model", "lenet5", "--data", SingleReplicaTrainingTest.SUBSET.toString(),
                "--replicas", "2", "--batch-size", "16", "--max-steps-per-epoch", String.valueOf(STEPS), "--lr", "0.02",
                "--seed", "3", "--out", out.toString()));
        args.addAll(List.of(extra));
        TrainCommand command = new TrainCommand();
        new CommandLine(command).parseArgs(args.toArray(String[]::new));
        return command.options().validate();
    }

    /** Trains with the hooked data on a local[2] context of the test's own, its Spark UI on or off. */
    static TrainResult train(TrainOptions options, boolean sparkUi, HookedData.Hook hook) {
        SparkConf conf = new SparkConf().setMaster("local[2]").setAppName("lockstep live observation")
                .set("spark.ui.enabled", String.valueOf(sparkUi))
                .set("spark.executor.heartbeatInterval", "2s");
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            sc.setLogLevel("WARN");
            return new TrainingJob(options, null, List.of())
                    .train(sc, HookedData.input(options.get(TrainOptions.DATA), sc.hadoopConfiguration(), hook));
        }
    }

    @Test
    void aRunningEpochShowsEveryReplicasStepsAndTheSparkUiDescribesItsJobs() throws Exception {
        Path out = dir.resolve("live");
        TrainOptions options = options(out, "--epochs", "2");
        HookedData.Hook hold = (epoch, rank, step) -> {
            if (rank == 0 && step == STEPS - 1 && !RELEASE_EPOCH[epoch].await(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("the test never released epoch " + (epoch + 1));
            }
        };
        ExecutorService background = Executors.newSingleThreadExecutor();
        try {
            Future<TrainResult> run = background.submit(() -> train(options, true, hold));
            Path metrics = out.resolve(RunOutput.METRICS);

            // Epoch 1 cannot end before the test releases it: step records seen now were written live.
            List<JsonNode> records = await(metrics, r -> steps(r, 1) >= STEPS - 2);
            assertTrue(records.stream().noneMatch(r -> "epoch".equals(r.path("type").asText())), "epoch 1 is still running");
            JsonNode step = records.stream().filter(r -> "step".equals(r.path("type").asText())).findFirst().orElseThrow();
            assertEquals(2, step.get("ranks").size(), "every replica's timings, not only rank 0's");
            for (JsonNode rank : step.get("ranks")) {
                for (String field : new String[]{"host", "compute_ms", "norm_sync_ms", "exchange_ms", "data_wait_ms"}) {
                    assertTrue(rank.has(field), "per-rank " + field + " in " + rank);
                }
            }

            JsonNode environment = records.get(0).get("environment");
            String ui = environment.get("spark_ui").asText();
            String app = environment.get("application_id").asText();
            JsonNode jobs = JSON.readTree(get(ui + "/api/v1/applications/" + app + "/jobs"));
            assertTrue(descriptions(jobs).stream().anyMatch(d -> d.startsWith("lockstep epoch 1/2 · 2 replicas × 16 · lenet5")),
                    "the epoch's jobs are described: " + descriptions(jobs));

            RELEASE_EPOCH[0].countDown();
            await(metrics, r -> epochs(r) == 1 && steps(r, 2) > 0);
            JsonNode stages = JSON.readTree(get(ui + "/api/v1/applications/" + app + "/stages?status=complete"));
            List<String> accumulators = new ArrayList<>();
            for (JsonNode stage : stages) {
                stage.path("accumulatorUpdates").forEach(a -> accumulators.add(a.get("name").asText()));
            }
            assertTrue(accumulators.contains("lockstep: step timings of every replica"), "named accumulators: " + accumulators);
            JsonNode laterJobs = JSON.readTree(get(ui + "/api/v1/applications/" + app + "/jobs"));
            assertTrue(descriptions(laterJobs).stream().anyMatch(d -> d.startsWith("lockstep epoch 2/2")), descriptions(laterJobs).toString());

            RELEASE_EPOCH[1].countDown();
            TrainResult result = run.get(5, TimeUnit.MINUTES);
            assertTrue(result.testAccuracy() > 0.3, "the held run still trained: " + result.testAccuracy());
            List<JsonNode> all = read(metrics);
            assertEquals(STEPS, steps(all, 1), "each step of epoch 1 recorded once");
            assertEquals(STEPS, steps(all, 2), "each step of epoch 2 recorded once");
        } finally {
            RELEASE_EPOCH[0].countDown();
            RELEASE_EPOCH[1].countDown();
            background.shutdownNow();
        }
    }

    @Test
    void aReplicaSlowedOnPurposeIsNamedInTheStallReport() throws Exception {
        Path out = dir.resolve("stall");
        // Rank 1's batch 7 arrives 10 step-times (at least 3 s) late: far beyond the two batches the prefetch
        // thread works ahead (which absorb up to two step-times of the delay), and beyond 3x the median step
        // however loaded the machine is; the others still wait well over a second for it.
        HookedData.Hook slow = (epoch, rank, step) -> {
            if (rank == 1 && step < 6) {
                RANK1_BATCH_NANOS[step] = System.nanoTime();
            } else if (rank == 1 && step == 6) {
                long stepNanos = (RANK1_BATCH_NANOS[5] - RANK1_BATCH_NANOS[1]) / 4;
                Thread.sleep(Math.max(3000, 10 * stepNanos / 1_000_000));
            }
        };
        train(options(out, "--epochs", "1"), false, slow);

        List<JsonNode> records = read(out.resolve(RunOutput.METRICS));
        List<JsonNode> stalls = records.stream().filter(r -> "stall".equals(r.path("type").asText())).toList();
        JsonNode stall = stalls.stream().filter(s -> s.get("step").asInt() == 7).findFirst()
                .orElseThrow(() -> new AssertionError("no stall report for step 7: " + stalls + "; steps: " + records));
        assertEquals(1, stall.get("rank").asInt(), stall.toString());
        assertEquals("data", stall.get("phase").asText(), stall.toString());
        assertFalse(stall.get("host").asText().isBlank());
        assertTrue(stall.get("others_waited_ms").asDouble() > 1000, "rank 0 waited for it: " + stall);
        String message = stall.get("message").asText();
        assertTrue(message.contains("rank 1 on " + stall.get("host").asText() + " was slow in data"), message);

        JsonNode summary = JSON.readTree(out.resolve(RunOutput.SUMMARY).toFile());
        JsonNode epoch1 = summary.get("stragglers").get(0);
        assertEquals(1, epoch1.get("epoch").asInt());
        assertTrue(epoch1.get("by_rank").fieldNames().next().startsWith("1 ("), epoch1.toString());
        assertNotNull(epoch1.get("by_phase").get("data"), epoch1.toString());
    }

    private static List<String> descriptions(JsonNode jobs) {
        List<String> list = new ArrayList<>();
        jobs.forEach(j -> list.add(j.path("description").asText()));
        return list;
    }

    private static long steps(List<JsonNode> records, int epoch) {
        return records.stream().filter(r -> "step".equals(r.path("type").asText()) && r.get("epoch").asInt() == epoch).count();
    }

    private static long epochs(List<JsonNode> records) {
        return records.stream().filter(r -> "epoch".equals(r.path("type").asText())).count();
    }

    /** Polls the file until its records satisfy the condition (a deadline, not a timing assumption). */
    private static List<JsonNode> await(Path metrics, Predicate<List<JsonNode>> condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (System.nanoTime() < deadline) {
            List<JsonNode> records = Files.exists(metrics) ? read(metrics) : List.of();
            if (condition.test(records)) {
                return records;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("metrics.jsonl never reached the expected state; it holds:\n" + (Files.exists(metrics) ? read(metrics) : "nothing"));
    }

    static List<JsonNode> read(Path metrics) {
        try {
            List<JsonNode> records = new ArrayList<>();
            for (String line : Files.readAllLines(metrics)) {
                if (!line.isBlank()) {
                    records.add(JSON.readTree(line));
                }
            }
            return records;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String get(String url) throws IOException, InterruptedException {
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        HttpResponse<String> response = client.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), url + ": " + response.body());
        return response.body();
    }
}
