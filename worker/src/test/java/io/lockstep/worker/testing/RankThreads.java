package io.lockstep.worker.testing;

import io.lockstep.worker.comm.CollectiveException;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * TEST FIXTURE — runs one task per rank, each on its own thread, and collects the results in rank
 * order with a deadline. On failure it rethrows the root cause (a rank's own error rather than the
 * collective errors it caused in its peers) with the other failures attached as suppressed; ranks
 * still running at the deadline are interrupted.
 */
public final class RankThreads {

    /** The work of one rank. */
    @FunctionalInterface
    public interface RankTask<T> {
        T run(int rank) throws Exception;
    }

    /** A rank's task failed; the cause is the rank's own exception or error. */
    public static final class RankFailedException extends Exception {
        RankFailedException(int rank, Throwable cause) {
            super("rank " + rank + " failed: " + cause, cause);
        }
    }

    private RankThreads() {
    }

    public static <T> List<T> runAll(int size, long deadlineMs, RankTask<T> task) throws Exception {
        AtomicInteger threadIndex = new AtomicInteger();
        ExecutorService executor = Executors.newFixedThreadPool(size, runnable -> {
            Thread thread = new Thread(runnable, "test-rank-" + threadIndex.getAndIncrement());
            thread.setDaemon(true);
            return thread;
        });
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < size; r++) {
                int rank = r;
                futures.add(executor.submit(() -> task.run(rank)));
            }
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(deadlineMs);
            List<T> results = new ArrayList<>();
            List<Exception> failures = new ArrayList<>();
            for (int r = 0; r < size; r++) {
                try {
                    long left = Math.max(0, deadline - System.nanoTime());
                    results.add(futures.get(r).get(left, TimeUnit.NANOSECONDS));
                } catch (ExecutionException e) {
                    failures.add(new RankFailedException(r, e.getCause()));
                    results.add(null);
                } catch (TimeoutException e) {
                    failures.add(new IllegalStateException("rank " + r + " did not finish within " + deadlineMs
                            + " ms (ranks still running are interrupted)"));
                    results.add(null);
                    futures.forEach(f -> f.cancel(true));
                }
            }
            if (!failures.isEmpty()) {
                Exception primary = failures.stream()
                        .filter(f -> !(f.getCause() instanceof CollectiveException))
                        .findFirst().orElse(failures.get(0));
                for (Exception other : failures) {
                    if (other != primary) {
                        primary.addSuppressed(other);
                    }
                }
                throw primary;
            }
            return results;
        } finally {
            executor.shutdownNow();
        }
    }
}
