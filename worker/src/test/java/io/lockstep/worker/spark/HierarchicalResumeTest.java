package io.lockstep.worker.spark;

import io.lockstep.worker.comm.AeronCollective;
import io.lockstep.worker.comm.GroupMember;
import io.lockstep.worker.testing.ChildJvm;
import io.lockstep.worker.testing.ProcessFiles;
import io.lockstep.worker.testing.RankThreads;
import io.lockstep.worker.testing.TwoHosts;
import io.lockstep.worker.train.CheckpointStore;
import io.lockstep.worker.train.ReplicaTrainer;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.dataset.DataSet;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Resume is exact with the hierarchical all-reduce and the overlapped, bucketed exchange in force, with
 * synchronized BatchNorm: four replicas on two hosts of two ({@link TwoHosts}) train an epoch without
 * interruption; a second job trains the same epoch with {@code host-b} in its own JVM, checkpoints half-way
 * through the stage's own code, trains one more step, and then {@code host-b}'s process is killed (SIGKILL:
 * its collectives and media driver vanish without a word) and {@code host-a}'s ranks are torn down, as a
 * failed barrier stage is; a fresh group, a new stage attempt on the same driver directories, loads the
 * checkpoint and trains to the end. Every replica must then hold exactly, bit for bit, what the
 * uninterrupted run holds: parameters (BatchNorm running statistics included), optimizer state and the
 * iteration and epoch counts.
 *
 * <p>A Spark job in local mode runs every replica on one host, where the hierarchy cannot be in force, so
 * this is checked here, below Spark; the driver-level resume (restarting the job) is the integration tests'
 * {@code ResumeTest}. No step is timed: every wait has a generous deadline.
 */
@EnabledOnOs(OS.LINUX) // kills a process with SIGKILL
class HierarchicalResumeTest {
    private static final long WAIT_MS = TwoHosts.GROUP_WAIT_MS;

    @TempDir
    Path dir;

    /** Thrown in host-a's ranks once host-b is dead: the end of the failed stage attempt. */
    private static final class StageFailed extends RuntimeException {
        StageFailed() {
            super("host-b was killed", null, false, false);
        }
    }

    @Test
    void resumeAfterAHostIsKilledEndsBitForBitWhereTheUninterruptedRunEnds() throws Exception {
        List<DataSet> global = ResumeScenario.globalBatches();
        int checkpointed = ResumeScenario.CHECKPOINT_EVERY;

        List<ResumeScenario.Outcome> reference = TwoHosts.run(dir.resolve("reference-drivers"), "reference", 0,
                collective -> ResumeScenario.train(collective, global, null, null, false, ReplicaTrainer.StepHook.NONE));

        Path drivers = dir.resolve("drivers");
        CheckpointStore store = new CheckpointStore(dir.resolve("checkpoints").toUri().toString(), new Configuration());
        interruptedByKillingHostB(drivers, store, global);

        List<CheckpointStore.Checkpoint> saved = store.list();
        assertEquals(1, saved.size(), "one checkpoint, after step " + checkpointed + ": " + saved);
        CheckpointStore.Checkpoint checkpoint = saved.get(0);
        assertEquals(0, checkpoint.epochsCompleted());
        assertEquals(checkpointed, checkpoint.stepInEpoch());

        List<ResumeScenario.Outcome> resumed = TwoHosts.run(drivers, ResumeScenario.JOB, 1,
                collective -> ResumeScenario.train(collective, global, store, store.latest().orElseThrow(), false,
                        ReplicaTrainer.StepHook.NONE));

        for (int rank = 0; rank < TwoHosts.RANKS; rank++) {
            ResumeScenario.Outcome expected = reference.get(rank);
            ResumeScenario.Outcome actual = resumed.get(rank);
            assertEquals("hierarchical 2x2", expected.topology(), "rank " + rank + " of the uninterrupted run");
            assertEquals("hierarchical 2x2", actual.topology(), "rank " + rank + " of the resumed run");
            assertArrayEquals(expected.params(), actual.params(), "rank " + rank + ": parameters");
            assertArrayEquals(expected.updaterState(), actual.updaterState(), "rank " + rank + ": optimizer state");
            assertEquals(expected.iterations(), actual.iterations(), "rank " + rank + ": iteration count");
            assertEquals(expected.epochs(), actual.epochs(), "rank " + rank + ": epoch count");
            assertArrayEquals(reference.get(0).params(), actual.params(), "rank " + rank + " equals rank 0");
        }
        assertEquals(ResumeScenario.STEPS, resumed.get(0).iterations(), "every step of the epoch was taken once");
        float[] initial = ResumeScenario.RECIPE.build().params().toFloatVector();
        double moved = 0;
        for (int i = 0; i < initial.length; i++) {
            moved = Math.max(moved, Math.abs(initial[i] - resumed.get(0).params()[i]));
        }
        assertTrue(moved > 1e-3, "training moved the parameters (max move " + moved + ")");
    }

    /**
     * Host-a's ranks in this JVM and host-b's in a child JVM train from step 0; host-b's ranks stop one step
     * past the checkpoint and the child is killed; then host-a's ranks give up and close.
     */
    private void interruptedByKillingHostB(Path drivers, CheckpointStore store, List<DataSet> global) throws Exception {
        Path files = Files.createDirectories(dir.resolve("interrupted"));
        Path log = files.resolve("host-b.log");
        Process hostB = ChildJvm.builder(KilledHostProcess.class, files.toString(), drivers.toString(), store.uri())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            CountDownLatch killed = new CountDownLatch(1);
            int pastCheckpoint = ResumeScenario.CHECKPOINT_EVERY + 1;
            // Host-a's ranks, on their own threads; the test thread watches and kills host-b meanwhile.
            ExecutorService hostA = Executors.newSingleThreadExecutor();
            Future<List<String>> hostARanks = hostA.submit(() -> RankThreads.runAll(2, WAIT_MS, i -> {
                int rank = 2 * i;
                try (AeronCollective collective = AeronCollective.open(TwoHosts.config(drivers, rank),
                        new GroupMember(ResumeScenario.JOB, TwoHosts.SECRET, 0, rank, TwoHosts.RANKS),
                        local -> ProcessFiles.rendezvous(files, local, TwoHosts.RANKS, TwoHosts.OPERATION_TIMEOUT_MS))) {
                    String topology = collective.hostLayout().shape();
                    try {
                        ResumeScenario.train(collective, global, store, null, true, (epoch, stepsDone, graph) -> {
                            if (stepsDone == pastCheckpoint) {
                                awaitKill(killed);
                                throw new StageFailed();
                            }
                        });
                    } catch (StageFailed expected) {
                        return topology;
                    }
                    throw new AssertionError("rank " + rank + " trained past step " + pastCheckpoint);
                }
            }));
            hostA.shutdown();
            for (int r = 0; r < TwoHosts.RANKS; r++) {
                if (TwoHosts.host(r).equals("host-b")) {
                    awaitFile(files.resolve("past-checkpoint-" + r), hostB, log, hostARanks);
                }
            }
            hostB.destroyForcibly(); // SIGKILL on Linux
            assertTrue(hostB.waitFor(WAIT_MS, TimeUnit.MILLISECONDS), "host-b's JVM did not die");
            assertEquals(128 + 9, hostB.exitValue(), "host-b's JVM ended by SIGKILL");
            killed.countDown();
            for (String topology : hostARanks.get(WAIT_MS, TimeUnit.MILLISECONDS)) {
                assertEquals("hierarchical 2x2", topology, "a rank of host-a in the interrupted run");
            }
            for (int r = 0; r < TwoHosts.RANKS; r++) {
                if (TwoHosts.host(r).equals("host-b")) {
                    assertEquals("hierarchical 2x2", Files.readString(files.resolve("topology-" + r)),
                            "rank " + r + " of host-b in the interrupted run");
                }
            }
        } finally {
            hostB.destroyForcibly();
        }
    }

    private static void awaitKill(CountDownLatch killed) {
        try {
            if (!killed.await(WAIT_MS, TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException("host-b was not killed within " + WAIT_MS + " ms");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Waits for the child's file; fails early, with its log, if the child dies first. */
    private static void awaitFile(Path file, Process child, Path log, Future<?> hostA) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MS);
        while (!Files.exists(file)) {
            if (!child.isAlive() && !Files.exists(file)) {
                throw new AssertionError("host-b exited with " + child.exitValue() + " before writing " + file.getFileName()
                        + ":\n" + Files.readString(log, StandardCharsets.UTF_8));
            }
            if (hostA.isDone()) {
                hostA.get(); // host-a's ranks failed: report why
                throw new AssertionError("host-a's ranks finished before host-b wrote " + file.getFileName());
            }
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("no " + file + " after " + WAIT_MS + " ms:\n" + Files.readString(log));
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
        }
    }
}
