package io.lockstep.worker.comm;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * Closing after the last operation: a rank waits for its peers' confirmation only while a peer can still
 * give it. Every epoch of a training job ends this way (the ranks close one after another), so a rank
 * that waited out the whole linger for peers already gone delayed every epoch by it.
 */
class CollectiveCloseTest {
    /** Far longer than the test's deadline: waiting it out fails the test instead of passing slowly. */
    private static final long LINGER_MS = 60_000;
    private static final long CLOSE_DEADLINE_SECONDS = 20;

    /** The defaults a training job runs with in one JVM (IPC links, shared memory), and the ring over UDP. */
    @ParameterizedTest(name = "N={0}, {1}")
    @CsvSource({"2, AUTO", "3, AUTO", "2, UDP", "3, UDP"})
    void theLastRankToCloseDoesNotWaitForPeersThatAlreadyClosed(int size, TransportMode transport) throws Exception {
        CollectiveConfig config = CollectiveConfig.builder().bindAddress("127.0.0.1").transport(transport)
                .sharedMemory(transport == TransportMode.AUTO).closeLingerMs(LINGER_MS).build();
        try (InProcessGroup group = InProcessGroup.open(size, config)) {
            for (float[] sum : group.run(c -> {
                float[] data = {c.rank() + 1f, 1f};
                c.allReduce(data, 0, data.length, ReduceOp.SUM);
                return data;
            })) {
                assertArrayEquals(new float[]{size * (size + 1) / 2f, size}, sum);
            }
            // Ranks close one after another, highest first, each within the deadline, each once the ranks
            // still open see the closed ones gone (as at the end of an epoch, where the ranks finish their
            // evaluation at different times): the last to close finds every peer gone.
            for (int rank = size - 1; rank >= 0; rank--) {
                for (int closed = rank + 1; closed < size; closed++) {
                    awaitGone(group.rank(rank), closed);
                }
                AeronCollective collective = group.rank(rank);
                Future<?> closing = group.submit(rank, () -> {
                    collective.close();
                    return null;
                });
                closing.get(CLOSE_DEADLINE_SECONDS, TimeUnit.SECONDS);
            }
        }
    }

    private static void awaitGone(AeronCollective open, int closedPeer) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(CLOSE_DEADLINE_SECONDS);
        while (open.controlLinkConnected(closedPeer)) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("rank " + open.rank() + " still sees closed rank " + closedPeer + " after "
                        + CLOSE_DEADLINE_SECONDS + " s");
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
    }
}
