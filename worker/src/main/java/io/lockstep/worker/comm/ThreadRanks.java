package io.lockstep.worker.comm;

import org.agrona.concurrent.NanoClock;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

/**
 * N ranks of one group as threads of this JVM, for tests and benchmarks: each rank is owned by its own
 * single-thread executor, so every call on a rank's collective runs on the same thread, as in
 * production. Every wait is bounded by the {@code waitMs} given at {@link #open}.
 */
public final class ThreadRanks implements AutoCloseable {
    private final List<AeronCollective> ranks;
    private final List<ExecutorService> threads;
    private final long waitMs;

    private ThreadRanks(List<AeronCollective> ranks, List<ExecutorService> threads, long waitMs) {
        this.ranks = ranks;
        this.threads = threads;
        this.waitMs = waitMs;
    }

    /**
     * Binds every rank, then connects all of them at once, each on its own thread named
     * {@code threadPrefix + rank}; on failure releases whatever was already bound.
     */
    public static ThreadRanks open(int size, CollectiveConfig config, String jobId, JobSecret secret, long attempt,
                                   NanoClock clock, long waitMs, String threadPrefix) throws Exception {
        return open(java.util.Collections.nCopies(size, config), jobId, secret, attempt, clock, waitMs, threadPrefix);
    }

    /**
     * Like {@link #open(int, CollectiveConfig, String, JobSecret, long, NanoClock, long, String)} with a
     * configuration per rank: ranks given other bind addresses and driver directories act as ranks of other
     * hosts (a rank's host is the address it binds to), e.g. 127.0.0.1 and 127.0.0.2 on one machine.
     */
    public static ThreadRanks open(List<CollectiveConfig> configsByRank, String jobId, JobSecret secret, long attempt,
                                   NanoClock clock, long waitMs, String threadPrefix) throws Exception {
        int size = configsByRank.size();
        List<ExecutorService> threads = new ArrayList<>();
        List<CollectiveBinding> bindings = new ArrayList<>();
        try {
            for (int rank = 0; rank < size; rank++) {
                int r = rank;
                threads.add(Executors.newSingleThreadExecutor(task -> new Thread(task, threadPrefix + r)));
                bindings.add(AeronCollective.bind(configsByRank.get(rank), new GroupMember(jobId, secret, attempt, rank, size), clock));
            }
            List<Endpoint> endpoints = bindings.stream().map(CollectiveBinding::localEndpoint).toList();
            List<Future<AeronCollective>> connecting = new ArrayList<>();
            for (int rank = 0; rank < size; rank++) {
                CollectiveBinding binding = bindings.get(rank);
                connecting.add(threads.get(rank).submit(() -> binding.connect(endpoints)));
            }
            List<AeronCollective> ranks = new ArrayList<>();
            for (Future<AeronCollective> future : connecting) {
                ranks.add(future.get(waitMs, TimeUnit.MILLISECONDS));
            }
            return new ThreadRanks(ranks, threads, waitMs);
        } catch (Exception e) {
            bindings.forEach(CollectiveBinding::close);
            threads.forEach(ExecutorService::shutdownNow);
            throw e;
        }
    }

    public int size() {
        return ranks.size();
    }

    public AeronCollective rank(int rank) {
        return ranks.get(rank);
    }

    /** Submits a task to one rank's thread. */
    public <T> Future<T> submit(int rank, Callable<T> task) {
        return threads.get(rank).submit(task);
    }

    /** Starts {@code task} on every rank's thread at once; the futures are in rank order. */
    public <T> List<Future<T>> start(Function<AeronCollective, T> task) {
        List<Future<T>> futures = new ArrayList<>();
        for (int rank = 0; rank < ranks.size(); rank++) {
            AeronCollective collective = ranks.get(rank);
            futures.add(threads.get(rank).submit(() -> task.apply(collective)));
        }
        return futures;
    }

    /** The result of one rank's future, waiting at most the group's deadline. */
    public <T> T await(Future<T> future) throws ExecutionException, TimeoutException, InterruptedException {
        return future.get(waitMs, TimeUnit.MILLISECONDS);
    }

    public long waitMs() {
        return waitMs;
    }

    /** Closes every rank on its own thread, then stops the threads. */
    @Override
    public void close() throws Exception {
        List<Future<?>> closing = new ArrayList<>();
        for (int rank = 0; rank < ranks.size(); rank++) {
            AeronCollective collective = ranks.get(rank);
            closing.add(threads.get(rank).submit(collective::close));
        }
        try {
            for (Future<?> future : closing) {
                future.get(waitMs, TimeUnit.MILLISECONDS);
            }
        } finally {
            threads.forEach(ExecutorService::shutdownNow);
        }
    }
}
