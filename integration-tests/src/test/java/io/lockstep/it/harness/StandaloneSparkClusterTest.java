package io.lockstep.it.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lockstep.it.harness.apps.BarrierProbeApp;
import io.lockstep.it.harness.apps.ProbeResult;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The harness against a real standalone cluster (Master + 2 Workers × 1 core, separate JVMs on
 * loopback): barrier stages across executor JVMs, and what Spark does when an executor is killed
 * with SIGKILL mid-stage. One cluster for the class; every test submits its own application.
 */
class StandaloneSparkClusterTest {
    private static final Logger LOG = LoggerFactory.getLogger(StandaloneSparkClusterTest.class);
    private static final Duration APP_TIMEOUT = Duration.ofMinutes(3);
    private static final Pattern RUNNING_MARKER = Pattern.compile("running-p(\\d+)-pid(\\d+)");

    private static StandaloneSparkCluster cluster;
    private static Path appJar;

    @BeforeAll
    static void startCluster() {
        cluster = StandaloneSparkCluster.builder().workers(2).coresPerWorker(1).memoryPerWorkerMb(1024).start();
        LOG.info("MEASURED standalone cluster (master + 2 workers) ready in {} ms", cluster.startupTime().toMillis());
        appJar = AppJar.containing(BarrierProbeApp.class, cluster.workDir().resolve("barrier-probe.jar"));
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void barrierTasksRunInSeparateExecutorJvmsAndGatherEachOthersMessages(@TempDir Path dir) {
        Path resultFile = dir.resolve("result.txt");
        SubmitResult submit = SparkSubmitter.to(cluster).name("gather").mainClass(BarrierProbeApp.class).appJar(appJar)
                .args("--result", resultFile.toString(), "--tasks", "2")
                .run(APP_TIMEOUT);
        LOG.info("MEASURED spark-submit to driver exit, one barrier stage with allGather: {} ms", submit.elapsed().toMillis());
        assertEquals(0, submit.exitCode(), () -> submit.describe() + cluster.describe());

        ProbeResult result = ProbeResult.read(resultFile);
        assertTrue(result.succeeded(), () -> result + "\n" + submit.describe());
        assertEquals(List.of(0, 1), result.tasks().stream().map(ProbeResult.Task::partition).toList(), result::toString);
        long pid0 = result.tasks().get(0).pid();
        long pid1 = result.tasks().get(1).pid();
        assertNotEquals(pid0, pid1, "both barrier tasks ran in the same JVM: " + result);
        List<String> expectedGather = List.of("p0@" + pid0, "p1@" + pid1);
        for (ProbeResult.Task task : result.tasks()) {
            assertEquals(expectedGather, task.gathered(), "allGather of task " + task.partition());
            assertEquals(0, task.attempt(), "no stage retry expected: " + result);
        }
        // Each pid must be an executor launched by a different Worker of this cluster (not the driver, not local mode).
        Map<Long, Integer> workerOfPid = executorPidsByWorker();
        assertTrue(workerOfPid.containsKey(pid0) && workerOfPid.containsKey(pid1),
                () -> "task pids " + pid0 + ", " + pid1 + " are not executors of this cluster's workers: " + workerOfPid);
        assertNotEquals(workerOfPid.get(pid0), workerOfPid.get(pid1), "both executors on one worker: " + workerOfPid);
    }

    @Test
    void executorKilledDuringBarrierResultStageAbortsTheJob(@TempDir Path dir) {
        KillOutcome outcome = submitHoldAndKillExecutorOfTask0(dir, "collect");
        // Spark never retries a barrier ResultStage (DAGScheduler: "Could not recover from a failed barrier ResultStage").
        assertEquals(1, outcome.submit.exitCode(), () -> outcome.submit.describe() + cluster.describe());
        ProbeResult result = ProbeResult.read(outcome.resultFile);
        assertFalse(result.succeeded(), result::toString);
        String error = result.error().orElse("");
        assertTrue(error.contains("Could not recover from a failed barrier ResultStage"), error);
        LOG.info("MEASURED ResultStage: kill -9 of executor {} -> driver exit in {} ms; Spark's error: {}",
                outcome.killedPid, outcome.killToExitMs, error);
    }

    @Test
    void executorKilledDuringBarrierShuffleMapStageIsRetriedOnAReplacementExecutor(@TempDir Path dir) {
        KillOutcome outcome = submitHoldAndKillExecutorOfTask0(dir, "shuffle");
        assertEquals(0, outcome.submit.exitCode(), () -> outcome.submit.describe() + cluster.describe());
        ProbeResult result = ProbeResult.read(outcome.resultFile);
        assertTrue(result.succeeded(), result::toString);
        assertEquals(2, result.tasks().size(), result::toString);
        for (ProbeResult.Task task : result.tasks()) {
            assertEquals(1, task.attempt(), "the whole barrier stage is rerun as attempt 1: " + result);
            assertNotEquals(outcome.killedPid, task.pid(), "a task ran in the killed executor: " + result);
        }
        // The Master replaced the lost executor on the Worker whose executor died.
        Map<Long, Integer> workerOfPid = executorPidsByWorker();
        long replacement = result.tasks().stream().map(ProbeResult.Task::pid)
                .filter(pid -> !pid.equals(outcome.survivorPid)).findFirst()
                .orElseThrow(() -> new AssertionError("no task ran on a new executor: " + result));
        assertEquals(outcome.killedWorker, workerOfPid.get(replacement), () -> "replacement executor " + replacement
                + " is not on worker " + outcome.killedWorker + ": " + workerOfPid);
        LOG.info("MEASURED ShuffleMapStage: kill -9 of executor {} -> stage retried on executor {} -> driver exit in {} ms",
                outcome.killedPid, replacement, outcome.killToExitMs);
    }

    private record KillOutcome(SubmitResult submit, Path resultFile, long killedPid, int killedWorker, long survivorPid,
                               long killToExitMs) {
    }

    /** Runs the probe with tasks held after their allGather, kills task 0's executor, releases nothing, awaits the driver. */
    private static KillOutcome submitHoldAndKillExecutorOfTask0(Path dir, String then) {
        Path holdDir = dir.resolve("hold");
        Path resultFile = dir.resolve("result.txt");
        try {
            Files.createDirectories(holdDir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try (SubmittedApplication app = SparkSubmitter.to(cluster).name("kill-" + then).mainClass(BarrierProbeApp.class)
                .appJar(appJar)
                .args("--result", resultFile.toString(), "--tasks", "2", "--then", then, "--hold-dir", holdDir.toString(),
                        "--hold-timeout-ms", "150000")
                .start()) {
            Map<Integer, Long> running = Await.withSystemClock().until("both barrier tasks to be running", APP_TIMEOUT,
                    () -> {
                        app.driver().requireAlive("both barrier tasks to start");
                        Map<Integer, Long> markers = runningMarkers(holdDir);
                        return markers.size() == 2 ? Optional.of(markers) : Optional.empty();
                    }, () -> app.driver().describe() + cluster.describe());
            long victim = running.get(0);
            long survivor = running.get(1);
            long killNanos = System.nanoTime();
            SparkWorker killedOn = cluster.killExecutor(victim, Duration.ofSeconds(30));
            SubmitResult submit = app.awaitExit(APP_TIMEOUT);
            long killToExitMs = (System.nanoTime() - killNanos) / 1_000_000;
            return new KillOutcome(submit, resultFile, victim, killedOn.index(), survivor, killToExitMs);
        }
    }

    private static Map<Integer, Long> runningMarkers(Path holdDir) {
        try (Stream<Path> files = Files.list(holdDir)) {
            Map<Integer, Long> markers = new TreeMap<>();
            files.forEach(f -> {
                Matcher m = RUNNING_MARKER.matcher(f.getFileName().toString());
                if (m.matches()) {
                    markers.put(Integer.parseInt(m.group(1)), Long.parseLong(m.group(2)));
                }
            });
            return markers;
        } catch (IOException e) {
            throw new UncheckedIOException("Could not list " + holdDir, e);
        }
    }

    /**
     * Pid of every executor any Worker of the cluster has launched, mapped to the Worker's index,
     * read from the executors' own logs ({@code <worker dir>/<app>/<executor>/stderr}: "Started
     * daemon with process name: PID@host"), so it also covers executors that have exited.
     */
    private static Map<Long, Integer> executorPidsByWorker() {
        Pattern started = Pattern.compile("Started daemon with process name: (\\d+)@");
        Map<Long, Integer> pids = new TreeMap<>();
        for (SparkWorker worker : cluster.workers()) {
            try (Stream<Path> files = Files.find(worker.workDir(), 3, (p, a) -> p.getFileName().toString().equals("stderr"))) {
                for (Path stderr : files.collect(Collectors.toList())) {
                    Matcher m = started.matcher(Files.readString(stderr));
                    if (m.find()) {
                        pids.put(Long.parseLong(m.group(1)), worker.index());
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("Could not read executor logs under " + worker.workDir(), e);
            }
        }
        return pids;
    }
}
