package io.lockstep.worker.comm;

import org.agrona.concurrent.NanoClock;
import org.agrona.concurrent.SystemNanoClock;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * N ranks of one group as threads of this JVM ({@link ThreadRanks}), with the tests' settings and a
 * rank's failure reported as an assertion naming the rank.
 */
final class InProcessGroup implements AutoCloseable {
    static final long WAIT_SECONDS = 120;
    private static final AtomicInteger GROUPS = new AtomicInteger();

    private final ThreadRanks ranks;

    private InProcessGroup(ThreadRanks ranks) {
        this.ranks = ranks;
    }

    /** The ring over Aeron, which these tests are about (the shared-memory all-reduce has its own tests). */
    static CollectiveConfig.Builder testConfig() {
        return CollectiveConfig.builder()
                .bindAddress("127.0.0.1")
                .sharedMemory(false)
                .termLengthBytes(1024 * 1024)
                .chunkBytes(4096)
                .connectTimeoutMs(20_000)
                .operationTimeoutMs(30_000)
                .closeLingerMs(2_000);
    }

    /**
     * A group of its own job: a new job id each time, so that its stream ids never meet those of a group that
     * closed a moment ago and whose publications Aeron still lingers on (a clashing session id).
     */
    static InProcessGroup open(int size, CollectiveConfig config) throws Exception {
        return open(size, config, "job-" + size + "-" + GROUPS.incrementAndGet(), 42L, 0L, SystemNanoClock.INSTANCE);
    }

    static InProcessGroup open(int size, CollectiveConfig config, String jobId, long secret, long attempt,
                               NanoClock clock) throws Exception {
        return new InProcessGroup(ThreadRanks.open(size, config, jobId, secret(secret), attempt, clock,
                WAIT_SECONDS * 1000, "rank-"));
    }

    /** A job secret for tests, the same for the same seed. */
    static JobSecret secret(long seed) {
        return JobSecret.derive(Long.toString(seed).getBytes(java.nio.charset.StandardCharsets.UTF_8), "test");
    }

    int size() {
        return ranks.size();
    }

    AeronCollective rank(int rank) {
        return ranks.rank(rank);
    }

    /** Runs {@code task} on every rank's thread at once and returns the results by rank. */
    <T> List<T> run(Function<AeronCollective, T> task) throws Exception {
        List<Future<T>> futures = ranks.start(task);
        List<T> results = new ArrayList<>();
        for (int rank = 0; rank < futures.size(); rank++) {
            try {
                results.add(ranks.await(futures.get(rank)));
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
        return ranks.submit(rank, task);
    }

    @Override
    public void close() throws Exception {
        ranks.close();
    }
}
