package io.lockstep.it;

import io.lockstep.driver.Main;
import io.lockstep.it.harness.Await;
import io.lockstep.it.harness.ManagedProcess;
import io.lockstep.it.harness.MiniHdfs;
import io.lockstep.it.harness.TestRuntime;
import io.lockstep.worker.train.CheckpointStore;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A killed driver, and checkpoints on HDFS: `--resume` ends where an uninterrupted run ends. */
class ResumeTest {
    private static final Logger LOG = LoggerFactory.getLogger(ResumeTest.class);
    private static final Duration TIMEOUT = Duration.ofMinutes(5);

    private static String[] job(Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("train", "--model", "lenet5", "--data", Lockstep.SUBSET.toString(),
                "--replicas", "2", "--batch-size", "16", "--max-steps-per-epoch", "24", "--lr", "0.02",
                "--lr-decay", "none", "--seed", "3", "--checkpoint-every", "6", "--keep-checkpoints", "0",
                "--out", out.toString()));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    /**
     * Both runs send gradient buckets while backward runs ({@code --overlap on}, buckets small enough that
     * lenet5's gradient leaves in several): the bucketed exchange and its communication agent are rebuilt
     * by the resumed process, and nothing of the killed one may leak into the parameters. The exchange
     * after backward resumes through the same checkpoints in the HDFS test below and in the standalone
     * cluster's killed-executor test.
     */
    @Test
    void killedDriverResumesFromItsLastCheckpointToTheSameParameters(@TempDir Path dir) {
        Path reference = dir.resolve("reference");
        assertEquals(0, Main.run(job(reference, "--epochs", "3", "--overlap", "on", "--bucket-size", "0.05")));

        Path out = dir.resolve("killed");
        Path checkpoints = out.resolve("checkpoints");
        ProcessBuilder builder = new ProcessBuilder(Lockstep.driverCommand(job(out, "--epochs", "3",
                "--overlap", "on", "--bucket-size", "0.05")));
        try (ManagedProcess driver = ManagedProcess.start("driver-to-kill", builder, TestRuntime.newWorkDir("resume"))) {
            CheckpointStore.Checkpoint seen = Await.withSystemClock().until("a checkpoint in the middle of epoch 2", TIMEOUT, () -> {
                driver.requireAlive("a mid-epoch checkpoint");
                return Lockstep.checkpoints(checkpoints).stream()
                        .filter(c -> c.epochsCompleted() == 1 && c.stepInEpoch() >= 6).findFirst();
            }, driver::describe);
            driver.killTree(Duration.ofSeconds(30));
            LOG.info("killed the driver (and its local executors) after {}", seen.path());
        }
        assertEquals(0, Main.run(job(out, "--epochs", "3", "--overlap", "on", "--bucket-size", "0.05", "--resume")));
        assertArrayEquals(Lockstep.finalParameters(reference), Lockstep.finalParameters(out),
                "resumed run ends with the uninterrupted run's parameters, bit for bit");
    }

    @Test
    void checkpointsOnHdfsResumeToTheSameParameters(@TempDir Path dir) throws Exception {
        try (MiniHdfs hdfs = MiniHdfs.start()) {
            String checkpointDir = hdfs.uri("/lockstep/checkpoints");
            Path reference = dir.resolve("reference");
            assertEquals(0, Main.run(job(reference, "--epochs", "2", "--replicas", "1", "--batch-size", "32")));

            Path out = dir.resolve("hdfs");
            assertEquals(0, Main.run(job(out, "--epochs", "1", "--replicas", "1", "--batch-size", "32",
                    "--checkpoint-dir", checkpointDir)));
            List<CheckpointStore.Checkpoint> written = new CheckpointStore(checkpointDir, hdfs.configuration()).list();
            assertTrue(written.stream().anyMatch(c -> c.epochsCompleted() == 1), "epoch checkpoint on HDFS: " + written);
            assertEquals(0, Main.run(job(out, "--epochs", "2", "--replicas", "1", "--batch-size", "32",
                    "--checkpoint-dir", checkpointDir, "--resume")));
            double difference = Lockstep.maxAbsDifference(Lockstep.finalParameters(reference), Lockstep.finalParameters(out));
            assertEquals(0.0, difference, 1e-6, "resumed from HDFS, same parameters as the uninterrupted run");
        }
    }
}
