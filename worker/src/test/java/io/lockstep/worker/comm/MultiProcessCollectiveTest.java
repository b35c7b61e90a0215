package io.lockstep.worker.comm;

import io.lockstep.worker.testing.ProcessFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedInputStream;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Three ranks in three JVMs, each with its own media driver, talking UDP over loopback: rank 0 is this
 * test, ranks 1 and 2 are child processes. All run every operation; then rank 2 is killed inside an
 * all-reduce, and the two survivors must fail within their deadline naming it. Once with all-reduces on the
 * ring, once through shared memory (the three JVMs share this machine).
 */
class MultiProcessCollectiveTest {
    private static final int SIZE = 3;

    @Test
    void threeJvmsOverUdpAgreeOnEveryOperationAndNameTheRankThatDies(@TempDir Path directory) throws Exception {
        agreeAndNameTheRankThatDies(directory, false);
    }

    @Test
    void threeJvmsSharingMemoryAgreeOnEveryOperationAndNameTheRankThatDies(@TempDir Path directory) throws Exception {
        agreeAndNameTheRankThatDies(directory, true);
    }

    private static void agreeAndNameTheRankThatDies(Path directory, boolean shared) throws Exception {
        List<Process> children = new ArrayList<>();
        try {
            children.add(CollectiveChildProcess.launch(directory, 1, SIZE, "survivor", shared));
            children.add(CollectiveChildProcess.launch(directory, 2, SIZE, "doomed", shared));
            try (AeronCollective collective = AeronCollective.open(
                    CollectiveChildProcess.config(CollectiveChildProcess.FAILURE_TIMEOUT_MS, shared),
                    new GroupMember(CollectiveChildProcess.JOB, CollectiveChildProcess.SECRET, 0, 0, SIZE),
                    local -> CollectiveChildProcess.exchange(directory, local, SIZE))) {
                for (int peer = 1; peer < SIZE; peer++) {
                    assertTrue(!collective.endpoints().get(peer).driverId().equals(collective.localEndpoint().driverId()),
                            "each process runs its own driver, so the links are UDP");
                }
                assertEquals(shared ? "shared memory (3 ranks of one host)" : "flat ring", collective.allReducePath());
                CollectiveChildProcess.Workload expected = CollectiveChildProcess.Workload.expected(SIZE);
                assertSame(expected, CollectiveChildProcess.Workload.run(collective), "rank 0");
                for (int rank = 1; rank < SIZE; rank++) {
                    Path file = directory.resolve("result-" + rank);
                    CollectiveChildProcess.awaitOutput(file, children);
                    try (InputStream in = new BufferedInputStream(Files.newInputStream(file))) {
                        assertSame(expected, CollectiveChildProcess.Workload.readFrom(in), "rank " + rank);
                    }
                }

                CollectiveChildProcess.awaitOutput(directory.resolve("entering-2"), children);
                children.get(1).destroyForcibly().waitFor(30, TimeUnit.SECONDS);
                ProcessFiles.writeAtomically(directory.resolve("go"), out -> { });
                CollectiveTimeoutException timeout = assertThrows(CollectiveTimeoutException.class,
                        () -> collective.allReduce(new float[CollectiveChildProcess.FAILURE_LENGTH], ReduceOp.SUM));
                assertEquals(List.of(2), timeout.silentRanks(), timeout.getMessage());

                Path outcome = directory.resolve("outcome-1");
                CollectiveChildProcess.awaitOutput(outcome, children.subList(0, 1));
                String survivor = Files.readString(outcome);
                assertTrue(survivor.startsWith("TIMEOUT [2]"), "rank 1 should name rank 2: " + survivor);
            }
            assertTrue(children.get(0).waitFor(60, TimeUnit.SECONDS), "rank 1 exits");
            assertEquals(0, children.get(0).exitValue(), () -> "rank 1 failed: " + CollectiveChildProcess.log(directory, 1));
        } finally {
            children.forEach(Process::destroyForcibly);
        }
    }

    private static void assertSame(CollectiveChildProcess.Workload expected, CollectiveChildProcess.Workload actual,
                                   String who) {
        assertArrayEquals(expected.sum(), actual.sum(), who + ": sum");
        assertArrayEquals(expected.single(), actual.single(), who + ": single-element average");
        assertArrayEquals(expected.average(), actual.average(), who + ": double average");
        assertEquals(expected.gathered().length, actual.gathered().length);
        for (int rank = 0; rank < SIZE; rank++) {
            assertArrayEquals(expected.gathered()[rank], actual.gathered()[rank], who + ": gathered block of " + rank);
        }
        assertArrayEquals(expected.broadcastFloats(), actual.broadcastFloats(), who + ": float broadcast");
        assertArrayEquals(expected.broadcastBytes(), actual.broadcastBytes(), who + ": byte broadcast");
    }
}
