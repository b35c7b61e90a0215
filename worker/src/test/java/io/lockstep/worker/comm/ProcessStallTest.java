package io.lockstep.worker.comm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A rank whose process stops running for longer than Aeron's default liveness timeouts (10 s) — what a
 * long garbage collection or a CPU-starved container does — must not break the collective: the all-reduce
 * that spans the pause completes on both ranks, with the right sum, once the process runs again. Rank 0 is
 * this test; rank 1 is a child JVM with its own media driver, stopped with SIGSTOP and resumed with SIGCONT.
 */
class ProcessStallTest {
    /** Longer than Aeron's 10 s defaults, shorter than the operation's deadline. */
    private static final long PAUSE_MS = 12_000;

    @Test
    void anAllReduceOutlastsAPauseOfOneRanksProcessLongerThanAeronsDefaultTimeouts(@TempDir Path directory)
            throws Exception {
        assertTrue(PAUSE_MS + 10_000 < CollectiveChildProcess.LONG_TIMEOUT_MS, "the pause must fit the deadline");
        Process child = CollectiveChildProcess.launch(directory, 1, 2, "paused");
        List<Process> children = List.of(child);
        try (AeronCollective collective = AeronCollective.open(
                CollectiveChildProcess.config(CollectiveChildProcess.LONG_TIMEOUT_MS),
                new GroupMember(CollectiveChildProcess.JOB, CollectiveChildProcess.SECRET, 0, 0, 2),
                local -> CollectiveChildProcess.exchange(directory, local, 2))) {
            collective.barrier();
            CollectiveChildProcess.awaitOutput(directory.resolve("entering-1"), children);

            signal("STOP", child);
            float[] values = new float[1_000];
            Arrays.fill(values, 1f);
            CompletableFuture<Void> allReduce = CompletableFuture.runAsync(() -> collective.allReduce(values, ReduceOp.SUM));
            // The pause itself is the scenario: rank 1's process does not run for this long.
            Thread.sleep(PAUSE_MS);
            assertTrue(!allReduce.isDone(), "the all-reduce cannot finish while rank 1 is stopped");
            signal("CONT", child);

            allReduce.get(CollectiveChildProcess.LONG_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            assertEquals(3f, values[0], "1 + 2 after the pause");
            assertEquals(3f, values[values.length - 1]);
            Path outcome = directory.resolve("outcome-1");
            CollectiveChildProcess.awaitOutput(outcome, children);
            assertEquals("COMPLETED 3.0", Files.readString(outcome), () -> CollectiveChildProcess.log(directory, 1));
            assertTrue(child.waitFor(60, TimeUnit.SECONDS), "rank 1 exits");
            assertEquals(0, child.exitValue(), () -> CollectiveChildProcess.log(directory, 1));
        } finally {
            signal("CONT", child);
            child.destroyForcibly();
        }
    }

    private static void signal(String name, Process process) throws Exception {
        if (!process.isAlive()) {
            return;
        }
        Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).inheritIO().start();
        assertTrue(kill.waitFor(10, TimeUnit.SECONDS) && kill.exitValue() == 0, "kill -" + name);
    }
}
