package io.lockstep.worker.comm;

import org.agrona.concurrent.NanoClock;
import org.agrona.concurrent.SystemNanoClock;

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
 * N ranks of one group as threads of this JVM: each rank is owned by its own single-thread executor,
 * so every call on a rank's collective runs on the same thread, as in production.
 */
final class InProcessGroup implements AutoCloseable {
    static final long WAIT_SECONDS = 120;

    private final List<AeronCollective> ranks;
    private final List<ExecutorService> threads;

    private InProcessGroup(List<AeronCollective> ranks, List<ExecutorService> threads) {
        this.ranks = ranks;
        this.threads = threads;
    }

    static CollectiveConfig.Builder testConfig() {
        return CollectiveConfig.builder()
                .bindAddress("127.0.0.1")
                .termLengthBytes(1024 * 1024)
                .chunkBytes(4096)
                .connectTimeoutMs(20_000)
                .operationTimeoutMs(30_000)
                .closeLingerMs(2_000);
    }

    static InProcessGroup open(int size, CollectiveConfig config) throws Exception {
        return open(size, config, "job-" + size, 42L, 0L, SystemNanoClock.INSTANCE);
    }

    static InProcessGroup open(int size, CollectiveConfig config, String jobId, long secret, long attempt,
                               NanoClock clock) throws Exception {
        List<ExecutorService> threads = new ArrayList<>();
        List<CollectiveBinding> bindings = new ArrayList<>();
        try {
            for (int rank = 0; rank < size; rank++) {
                int r = rank;
                threads.add(Executors.newSingleThreadExecutor(task -> new Thread(task, "rank-" + r)));
                bindings.add(AeronCollective.bind(config, new GroupMember(jobId, secret, attempt, rank, size), clock));
            }
            List<Endpoint> endpoints = bindings.stream().map(CollectiveBinding::localEndpoint).toList();
            List<Future<AeronCollective>> connecting = new ArrayList<>();
            for (int rank = 0; rank < size; rank++) {
                CollectiveBinding binding = bindings.get(rank);
                connecting.add(threads.get(rank).submit(() -> binding.connect(endpoints)));
            }
            List<AeronCollective> ranks = new ArrayList<>();
            for (Future<AeronCollective> future : connecting) {
                ranks.add(future.get(WAIT_SECONDS, TimeUnit.SECONDS));
            }
            return new InProcessGroup(ranks, threads);
        } catch (Exception e) {
            bindings.forEach(CollectiveBinding::close);
            threads.forEach(ExecutorService::shutdownNow);
            throw e;
        }
    }

    int size() {
        return ranks.size();
    }

    AeronCollective rank(int rank) {
        return ranks.get(rank);
    }

    /** Runs {@code task} on every rank's thread at once and returns the results by rank. */
    <T> List<T> run(Function<AeronCollective, T> task) throws Exception {
        List<Future<T>> futures = new ArrayList<>();
        for (int rank = 0; rank < ranks.size(); rank++) {
            AeronCollective collective = ranks.get(rank);
            futures.add(threads.get(rank).submit(() -> task.apply(collective)));
        }
        List<T> results = new ArrayList<>();
        for (int rank = 0; rank < futures.size(); rank++) {
            try {
                results.add(futures.get(rank).get(WAIT_SECONDS, TimeUnit.SECONDS));
            } catch (ExecutionException e) {
                throw new AssertionError("rank " + rank + " failed: " + e.getCause(), e.getCause());
            } catch (TimeoutException e) {
                throw new AssertionError("rank " + rank + " did not finish within " + WAIT_SECONDS + " s", e);
            }
        }
        return results;
    }

    /** Submits a task to one rank's thread. */
    <T> Future<T> submit(int rank, Callable<T> task) {
        return threads.get(rank).submit(task);
    }

    @Override
    public void close() throws Exception {
        List<Future<?>> closing = new ArrayList<>();
        for (int rank = 0; rank < ranks.size(); rank++) {
            AeronCollective collective = ranks.get(rank);
            closing.add(threads.get(rank).submit(collective::close));
        }
        try {
            for (Future<?> future : closing) {
                future.get(WAIT_SECONDS, TimeUnit.SECONDS);
            }
        } finally {
            threads.forEach(ExecutorService::shutdownNow);
        }
    }
}
