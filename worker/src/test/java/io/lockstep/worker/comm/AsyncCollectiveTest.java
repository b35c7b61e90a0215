package io.lockstep.worker.comm;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** The communication agent: ordered submit/await over real Aeron ranks, failures and deadlines. */
class AsyncCollectiveTest {
    private static final long STALL_MS = 60_000;

    private static ByteBuffer floats(int count, float base) {
        ByteBuffer buffer = ByteBuffer.allocateDirect(count * Float.BYTES).order(ByteOrder.nativeOrder());
        for (int i = 0; i < count; i++) {
            buffer.putFloat(i * Float.BYTES, base + i);
        }
        return buffer;
    }

    @Test
    void operationsRunInSubmissionOrderAndOverlapTheCallersWork() throws Exception {
        int[] lengths = {5_000, 17, 12_345};
        try (InProcessGroup group = InProcessGroup.open(2, InProcessGroup.testConfig().build())) {
            List<float[][]> results = group.run(collective -> {
                AsyncCollective async = new AsyncCollective(collective, STALL_MS, "comm-r" + collective.rank());
                try {
                    async.position(0, 3);
                    List<ByteBuffer> buffers = new ArrayList<>();
                    List<AsyncCollective.Pending> pending = new ArrayList<>();
                    for (int i = 0; i < lengths.length; i++) {
                        ByteBuffer buffer = floats(lengths[i], 1000f * i + collective.rank());
                        buffers.add(buffer);
                        pending.add(async.allReduceAsync(buffer, 0, lengths[i], ReduceOp.SUM));
                    }
                    // A synchronous call queues behind the buckets in flight and sees the same order everywhere.
                    byte[][] gathered = async.allGather(new byte[]{(byte) collective.rank()});
                    assertTrue(pending.get(2).isDone(), "an operation submitted earlier finished after a later one");
                    for (int i = lengths.length - 1; i >= 0; i--) {
                        pending.get(i).await();
                    }
                    assertEquals(1, gathered[1][0]);
                    float[][] out = new float[lengths.length][];
                    for (int i = 0; i < lengths.length; i++) {
                        out[i] = new float[lengths[i]];
                        buffers.get(i).asFloatBuffer().get(out[i]);
                    }
                    return out;
                } finally {
                    async.close();
                }
            });
            for (int i = 0; i < lengths.length; i++) {
                float[] expected = new float[lengths[i]];
                for (int j = 0; j < expected.length; j++) {
                    expected[j] = (1000f * i + j) + (1000f * i + 1 + j);
                }
                assertArrayEquals(expected, results.get(0)[i], "operation " + i + " on rank 0");
                assertArrayEquals(results.get(0)[i], results.get(1)[i], "operation " + i + " differs between ranks");
            }
        }
    }

    @Test
    void aMissingRankFailsTheAwaitWithTheCollectivesOwnTimeout() throws Exception {
        CollectiveConfig config = InProcessGroup.testConfig().operationTimeoutMs(1_500).heartbeatIntervalMs(50).build();
        try (InProcessGroup group = InProcessGroup.open(2, config)) {
            AeronCollective rank0 = group.rank(0);
            Future<Throwable> waiting = group.submit(0, () -> {
                try (AsyncCollective async = new AsyncCollective(rank0, STALL_MS, "comm-r0")) {
                    AsyncCollective.Pending bucket = async.allReduceAsync(floats(1000, 0), 0, 1000, ReduceOp.SUM);
                    try {
                        bucket.await();
                    } catch (CollectiveException e) {
                        // The next call fails as the wrapped collective does after a failure.
                        CollectiveException after = assertThrows(CollectiveException.class, () -> async.barrier());
                        assertTrue(after.getMessage().contains("unusable after an earlier failure"), after.getMessage());
                        return e;
                    }
                    return null;
                }
            });
            Throwable failure = waiting.get(InProcessGroup.WAIT_SECONDS, TimeUnit.SECONDS);
            CollectiveTimeoutException timeout = assertInstanceOf(CollectiveTimeoutException.class, failure);
            assertEquals(List.of(1), timeout.silentRanks());
            assertTrue(timeout.getMessage().contains("never entered it"), timeout.getMessage());
        }
    }

    @Test
    void anAgentThatMakesNoProgressFailsTheAwaitAtItsDeadline() throws Exception {
        AtomicLong now = new AtomicLong();
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Collective stuck = new FakeCollective() {
            @Override
            public void barrier() {
                entered.countDown();
                awaitQuietly(release);
            }
        };
        AsyncCollective async = new AsyncCollective(stuck, 5_000, "comm-stuck", now::get);
        try {
            AsyncCollective.Pending pending = async.submit("barrier", c -> {
                c.barrier();
                return null;
            });
            assertTrue(entered.await(30, TimeUnit.SECONDS));
            assertFalse(pending.isDone());
            now.addAndGet(TimeUnit.SECONDS.toNanos(6));
            CollectiveTimeoutException timeout = assertThrows(CollectiveTimeoutException.class, pending::await);
            assertTrue(timeout.getMessage().contains("made no progress for 5000 ms"), timeout.getMessage());
            assertTrue(timeout.getMessage().contains("inside barrier"), timeout.getMessage());
        } finally {
            release.countDown();
            async.close();
        }
    }

    @Test
    void anInterruptOfTheAwaitingThreadEndsTheRunningOperation() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        Collective polling = new FakeCollective() {
            @Override
            public void barrier() {
                entered.countDown();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (System.nanoTime() < deadline) {
                    if (Thread.currentThread().isInterrupted()) {
                        throw new CollectiveException("barrier was interrupted (task cancelled?)");
                    }
                    Thread.onSpinWait();
                }
                fail("the interrupt never reached the agent");
            }
        };
        try (AsyncCollective async = new AsyncCollective(polling, STALL_MS, "comm-interrupt")) {
            AsyncCollective.Pending pending = async.submit("barrier", c -> {
                c.barrier();
                return null;
            });
            assertTrue(entered.await(30, TimeUnit.SECONDS));
            Thread.currentThread().interrupt();
            CollectiveException failure = assertThrows(CollectiveException.class, pending::await);
            assertEquals("barrier was interrupted (task cancelled?)", failure.getMessage());
            assertTrue(Thread.interrupted(), "the caller's interrupt flag must stay set");
        }
    }

    @Test
    void theSynchronousApiReturnsTheWrappedResultsAndClosesTheWrappedCollective() throws Exception {
        List<String> calls = new ArrayList<>();
        RuntimeException refused = new PeerLostException("rank 1 left the group", List.of(1));
        Collective recording = new FakeCollective() {
            @Override
            public byte[] broadcast(byte[] data, int root) {
                calls.add("broadcast " + root);
                return new byte[]{7};
            }

            @Override
            public void allReduce(double[] data, int offset, int length, ReduceOp op) {
                throw refused;
            }

            @Override
            public void close() {
                calls.add("close");
            }
        };
        AsyncCollective async = new AsyncCollective(recording, STALL_MS, "comm-sync");
        assertArrayEquals(new byte[]{7}, async.broadcast(new byte[0], 0));
        RuntimeException thrown = assertThrows(RuntimeException.class, () -> async.allReduce(new double[2], ReduceOp.SUM));
        assertSame(refused, thrown, "the wrapped collective's own exception reaches the caller");
        async.close();
        async.close();
        assertEquals(List.of("broadcast 0", "close"), calls);
        assertThrows(IllegalStateException.class, () -> async.barrier());
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A single-rank stand-in whose calls do nothing unless a test overrides them. */
    private static class FakeCollective implements Collective {
        @Override
        public int rank() {
            return 0;
        }

        @Override
        public int size() {
            return 2;
        }

        @Override
        public void position(int epoch, long step) {
        }

        @Override
        public void allReduce(float[] data, int offset, int length, ReduceOp op) {
        }

        @Override
        public void allReduce(double[] data, int offset, int length, ReduceOp op) {
        }

        @Override
        public byte[][] allGather(byte[] contribution) {
            return new byte[][]{contribution};
        }

        @Override
        public void broadcast(float[] data, int offset, int length, int root) {
        }

        @Override
        public byte[] broadcast(byte[] data, int root) {
            return data;
        }

        @Override
        public void barrier() {
        }

        @Override
        public void close() {
        }
    }
}
