package io.lockstep.worker.comm;

import org.agrona.concurrent.NanoClock;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The deadline logic driven by a hand-moved clock: real time plays no part in when an operation gives
 * up, only the injected clock does.
 */
class DeterministicTimeoutTest {
    /** A clock that only moves when told to (or follows a source), and counts how often each thread reads it. */
    static final class ManualClock implements NanoClock {
        private final AtomicLong now = new AtomicLong(1_000_000_000L);
        private final AtomicLong reads = new AtomicLong();
        private final Map<String, AtomicLong> readsByThread = new ConcurrentHashMap<>();
        private final LongSupplier source;

        /** A clock standing still until {@link #set(long)} moves it. */
        ManualClock() {
            this.source = null;
        }

        /** A clock following {@code source}, for counting reads only; {@link #set(long)} does nothing useful. */
        ManualClock(LongSupplier source) {
            this.source = source;
        }

        @Override
        public long nanoTime() {
            reads.incrementAndGet();
            readsByThread.computeIfAbsent(Thread.currentThread().getName(), name -> new AtomicLong()).incrementAndGet();
            return source == null ? now.get() : source.getAsLong();
        }

        /** Waits (in real time, bounded) until each named thread has read the clock {@code more} more times. */
        void awaitReadsBy(List<String> threads, long more) {
            long[] targets = threads.stream()
                    .mapToLong(name -> readsByThread.computeIfAbsent(name, n -> new AtomicLong()).get() + more).toArray();
            long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            for (int i = 0; i < targets.length; i++) {
                while (readsByThread.get(threads.get(i)).get() < targets[i]) {
                    if (System.nanoTime() > giveUp) {
                        fail(threads.get(i) + " did not read the clock " + more + " more times within 30 s");
                    }
                    Thread.onSpinWait();
                }
            }
        }

        void set(long nanos) {
            now.set(nanos);
        }

        long get() {
            return now.get();
        }

        /** Waits (in real time, bounded) until the clock has been read {@code more} more times. */
        void awaitReads(long more) {
            long target = reads.get() + more;
            long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (reads.get() < target) {
                if (System.nanoTime() > giveUp) {
                    fail("the clock was not read " + more + " more times within 30 s");
                }
                Thread.onSpinWait();
            }
        }
    }

    @Test
    void anOperationGivesUpExactlyWhenTheInjectedClockPassesTheDeadline() throws Exception {
        long timeoutMs = 5_000;
        CollectiveConfig config = InProcessGroup.testConfig().operationTimeoutMs(timeoutMs).heartbeatIntervalMs(100)
                .build();
        ManualClock clock = new ManualClock();
        try (InProcessGroup group = InProcessGroup.open(3, config, "clocked", 3, 0, clock)) {
            long start = clock.get();
            AeronCollective zero = group.rank(0);
            AeronCollective one = group.rank(1);
            Future<?> waitingZero = group.submit(0, () -> {
                zero.allReduce(new float[64], ReduceOp.AVERAGE);
                return null;
            });
            Future<?> waitingOne = group.submit(1, () -> {
                one.allReduce(new float[64], ReduceOp.AVERAGE);
                return null;
            });
            // Rank 2 never calls. However long real time runs, nothing happens until the clock moves.
            clock.awaitReads(10_000);
            assertFalse(waitingZero.isDone() || waitingOne.isDone(), "no rank gives up while the clock stands still");

            // Let the clock run up to just before the deadline in steps shorter than a heartbeat interval,
            // so the two waiting ranks keep hearing from each other.
            long deadline = start + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
            for (long t = start; t < deadline; t += TimeUnit.MILLISECONDS.toNanos(25)) {
                clock.set(t);
                clock.awaitReadsBy(List.of("rank-0", "rank-1"), 20);
            }
            clock.set(deadline - 1);
            clock.awaitReads(10_000);
            assertFalse(waitingZero.isDone() || waitingOne.isDone(), "one nanosecond before the deadline, still waiting");

            clock.set(deadline);
            for (Future<?> waiting : List.of(waitingZero, waitingOne)) {
                try {
                    waiting.get(InProcessGroup.WAIT_SECONDS, TimeUnit.SECONDS);
                    fail("the operation should have timed out");
                } catch (ExecutionException e) {
                    CollectiveTimeoutException timeout = assertInstanceOf(CollectiveTimeoutException.class, e.getCause());
                    assertEquals(List.of(2), timeout.silentRanks(), timeout.getMessage());
                    // Each rank either reaches the deadline itself or first hears that its peer did: both name it.
                    String message = timeout.getMessage();
                    assertTrue(message.contains("timed out after " + timeoutMs + " ms")
                            || message.contains("gave up on it (its deadline passed"), message);
                }
            }
        }
    }

    @Test
    void aPeerThatStopsTalkingInsideTheOperationIsReportedSilentOnceFourHeartbeatsPass() throws Exception {
        long timeoutMs = 10_000;
        long heartbeatMs = 100;
        CollectiveConfig config = InProcessGroup.testConfig().operationTimeoutMs(timeoutMs)
                .heartbeatIntervalMs(heartbeatMs).build();
        ManualClock clock = new ManualClock();
        try (InProcessGroup group = InProcessGroup.open(2, config, "silent", 3, 0, clock)) {
            long start = clock.get();
            AeronCollective zero = group.rank(0);
            AeronCollective one = group.rank(1);
            // Rank 1 enters a barrier and then its thread leaves the collective alone: it arrived, then went quiet.
            Future<?> barrierOne = group.submit(1, () -> {
                one.barrier();
                return null;
            });
            Future<?> barrierZero = group.submit(0, () -> {
                zero.barrier();
                return null;
            });
            barrierOne.get(InProcessGroup.WAIT_SECONDS, TimeUnit.SECONDS);
            barrierZero.get(InProcessGroup.WAIT_SECONDS, TimeUnit.SECONDS);
            // Now rank 0 waits in an all-reduce that rank 1 never joins.
            Future<?> waiting = group.submit(0, () -> {
                zero.allReduce(new float[8], ReduceOp.SUM);
                return null;
            });
            clock.awaitReads(1_000);
            clock.set(start + TimeUnit.MILLISECONDS.toNanos(timeoutMs));
            try {
                waiting.get(InProcessGroup.WAIT_SECONDS, TimeUnit.SECONDS);
                fail("the operation should have timed out");
            } catch (ExecutionException e) {
                CollectiveTimeoutException timeout = assertInstanceOf(CollectiveTimeoutException.class, e.getCause());
                assertEquals(List.of(1), timeout.silentRanks());
                assertTrue(timeout.getMessage().contains("ranks [1] never entered it"), timeout.getMessage());
                assertTrue(timeout.getMessage().contains("rank 1: finished barrier #1"), timeout.getMessage());
            }
        }
    }
}
