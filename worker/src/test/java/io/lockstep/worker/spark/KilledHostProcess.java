package io.lockstep.worker.spark;

import io.lockstep.worker.comm.AeronCollective;
import io.lockstep.worker.comm.GroupMember;
import io.lockstep.worker.testing.ProcessFiles;
import io.lockstep.worker.testing.TwoHosts;
import io.lockstep.worker.train.CheckpointStore;
import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.dataset.DataSet;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The host that dies in {@link HierarchicalResumeTest}: a JVM running the ranks of {@code host-b} (its own
 * media driver), which train the scenario with the others, take part in the checkpoint, train one step
 * past it, announce that with a file {@code past-checkpoint-<rank>} per rank, and wait there to be killed.
 *
 * <p>Arguments: {@code <directory> <drivers root> <checkpoint uri>}; the ranks rendezvous through files in
 * the directory, and each writes {@code topology-<rank>} with the all-reduce form its collective took.
 */
public final class KilledHostProcess {
    /** How long the ranks wait to be killed before giving up on the parent (which kills them in seconds). */
    private static final long AWAIT_KILL_MS = 600_000;

    private KilledHostProcess() {
    }

    public static void main(String[] args) throws Exception {
        Path directory = Path.of(args[0]);
        Path drivers = Path.of(args[1]);
        CheckpointStore store = new CheckpointStore(args[2], new Configuration());
        List<DataSet> global = ResumeScenario.globalBatches();
        CountDownLatch neverReleased = new CountDownLatch(1);
        ExecutorService threads = Executors.newCachedThreadPool();
        List<Future<?>> ranks = new ArrayList<>();
        for (int r = 0; r < TwoHosts.RANKS; r++) {
            if (!TwoHosts.host(r).equals("host-b")) {
                continue;
            }
            int rank = r;
            ranks.add(threads.submit(() -> {
                // Never closed: the process is killed with its collectives, media driver and all.
                AeronCollective collective = AeronCollective.open(TwoHosts.config(drivers, rank),
                        new GroupMember(ResumeScenario.JOB, TwoHosts.SECRET, 0, rank, TwoHosts.RANKS),
                        local -> ProcessFiles.rendezvous(directory, local, TwoHosts.RANKS, TwoHosts.OPERATION_TIMEOUT_MS));
                String topology = collective.hostLayout().shape();
                ProcessFiles.writeAtomically(directory.resolve("topology-" + rank),
                        out -> out.write(topology.getBytes(StandardCharsets.UTF_8)));
                ResumeScenario.train(collective, global, store, null, true, (epoch, stepsDone, graph) -> {
                    if (stepsDone == ResumeScenario.CHECKPOINT_EVERY + 1) {
                        try {
                            ProcessFiles.writeAtomically(directory.resolve("past-checkpoint-" + rank), out -> { });
                            neverReleased.await(AWAIT_KILL_MS, TimeUnit.MILLISECONDS);
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                        throw new IllegalStateException("rank " + rank + " was not killed within " + AWAIT_KILL_MS + " ms");
                    }
                });
                return null;
            }));
        }
        try {
            for (Future<?> rank : ranks) {
                rank.get(2 * AWAIT_KILL_MS, TimeUnit.MILLISECONDS);
            }
        } catch (Exception e) {
            // The parent shows this process's log when an assertion fails.
            LoggerFactory.getLogger(KilledHostProcess.class).error("host-b failed", e);
            System.exit(1);
        }
        System.exit(2);
    }
}
