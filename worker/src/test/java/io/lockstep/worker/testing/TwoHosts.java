package io.lockstep.worker.testing;

import io.lockstep.worker.comm.AeronCollective;
import io.lockstep.worker.comm.AllReduceTopology;
import io.lockstep.worker.comm.CollectiveConfig;
import io.lockstep.worker.comm.JobSecret;
import io.lockstep.worker.comm.ThreadRanks;
import org.agrona.concurrent.SystemNanoClock;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Future;

/**
 * TEST FIXTURE — four ranks on two emulated hosts of two on 127.0.0.1, so that the hierarchical all-reduce is
 * in force: ranks 0 and 2 on {@code host-a}, 1 and 3 on {@code host-b}, each host with its own media driver
 * (its own driver directory root) and {@link CollectiveConfig#hostId()}; IPC within a host, UDP across. The
 * topology is {@link AllReduceTopology#HIERARCHICAL}, so a group that could not take the hierarchical form
 * fails to open rather than quietly running the flat ring.
 *
 * <p>Deadlines are generous (the product's own, above the media driver's stall tolerance): on a loaded machine
 * a slow rank must be waited for, not reported as lost.
 */
public final class TwoHosts {
    public static final int RANKS = 4;
    /** The product's default operation deadline, twice the 60 s a process may stall before Aeron gives up on it. */
    public static final long OPERATION_TIMEOUT_MS = 120_000;
    /** Beyond the operation deadline, so a communication agent never gives up before the collective reports. */
    public static final long AGENT_STALL_MS = OPERATION_TIMEOUT_MS + 30_000;
    /** How long the test waits for a whole group's work. */
    public static final long GROUP_WAIT_MS = 600_000;
    public static final JobSecret SECRET = JobSecret.derive("two-hosts".getBytes(StandardCharsets.UTF_8), "test");

    private TwoHosts() {
    }

    /** What one rank does with its collective. */
    @FunctionalInterface
    public interface RankBody<T> {
        T run(AeronCollective collective) throws Exception;
    }

    /** The emulated host of {@code rank}: ranks alternate, so each host's ring and the cross-host ring are non-trivial. */
    public static String host(int rank) {
        return rank % 2 == 0 ? "host-a" : "host-b";
    }

    /** The configuration of {@code rank}; its host's media driver lives under {@code driversRoot/<host>}. */
    public static CollectiveConfig config(Path driversRoot, int rank) {
        return CollectiveConfig.builder().bindAddress("127.0.0.1").hostId(host(rank))
                .allReduceTopology(AllReduceTopology.HIERARCHICAL)
                .driverDirectoryRoot(driversRoot.resolve(host(rank)).toString())
                .termLengthBytes(1024 * 1024).chunkBytes(4096)
                .connectTimeoutMs(60_000).operationTimeoutMs(OPERATION_TIMEOUT_MS).build();
    }

    /**
     * Runs {@code body} on every rank of a group opened in this JVM (stage {@code attempt} of job {@code jobId});
     * returns the results in rank order. Closes the group afterwards.
     */
    public static <T> List<T> run(Path driversRoot, String jobId, long attempt, RankBody<T> body) throws Exception {
        List<CollectiveConfig> configs = new ArrayList<>();
        for (int rank = 0; rank < RANKS; rank++) {
            configs.add(config(driversRoot, rank));
        }
        try (ThreadRanks ranks = ThreadRanks.open(configs, jobId, SECRET, attempt, SystemNanoClock.INSTANCE,
                GROUP_WAIT_MS, jobId + "-r")) {
            List<Future<T>> futures = new ArrayList<>();
            for (int rank = 0; rank < RANKS; rank++) {
                AeronCollective collective = ranks.rank(rank);
                futures.add(ranks.submit(rank, () -> body.run(collective)));
            }
            List<T> results = new ArrayList<>();
            for (Future<T> future : futures) {
                results.add(ranks.await(future));
            }
            return results;
        }
    }
}
