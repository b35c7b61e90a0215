package io.lockstep.driver.bench;

import io.lockstep.worker.comm.AeronCollective;
import io.lockstep.worker.comm.AllReduceTopology;
import io.lockstep.worker.comm.CollectiveConfig;
import io.lockstep.worker.comm.GroupMember;
import io.lockstep.worker.comm.HostLayout;
import io.lockstep.worker.comm.JobSecret;
import io.lockstep.worker.comm.ReduceOp;
import io.lockstep.worker.comm.TransportMode;
import io.lockstep.worker.comm.WireCompression;
import io.lockstep.worker.comm.WireSecurity;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * {@code lockstep bench allreduce-rank}: the ranks of an all-reduce benchmark that run in this process, for
 * ranks on separate hosts (or network namespaces with shaped links, see {@code benchmarks/emulated-cluster/}).
 * Every process is started with the same options and its own {@code --rank} (its first rank) and
 * {@code --bind}; with {@code --local-ranks L} it runs ranks {@code rank .. rank+L−1} on L threads sharing
 * its media driver, as an executor with L task slots does (IPC among them under {@code --transport auto}).
 * They meet through endpoint files in a shared {@code --rendezvous} directory. Rank 0 prints, per size, the
 * time per all-reduce (AVERAGE, in place), the bus bandwidth 2(N−1)/N · bytes / time (the same yardstick
 * whatever the all-reduce's shape), the ring streaming limit B_link measured on the flat ring's links just
 * before (every rank streaming raw frames to its successor), and, given {@code --link-mbps}, busbw as a
 * fraction of the link's nominal rate. Small sizes also give the latency per round: time / 2(N−1) for the
 * flat ring, time / (2(L−1) + 2(H−1)) for the hierarchical form.
 */
@Command(name = "allreduce-rank", mixinStandardHelpOptions = true,
        description = "The ranks this process runs of an all-reduce benchmark across processes or hosts.")
public final class AllReduceRankBenchmark implements Callable<Integer> {
    /** Deadline to meet the other ranks and of every operation. */
    private static final long TIMEOUT_MS = 120_000;
    private static final long STREAM_BYTES = 48L << 20;

    @Mixin
    RankProcessOptions process;

    @Option(names = "--local-ranks", defaultValue = "1",
            description = "ranks this process runs, on threads sharing its media driver")
    int localRanks;

    @Option(names = "--transport", defaultValue = "AUTO",
            description = "AUTO (IPC among this process's ranks, UDP to others) or UDP")
    TransportMode transport;

    @Option(names = "--allreduce-topology", defaultValue = "auto", description = "auto, flat or hierarchical")
    String topology;

    @Option(names = "--shared-memory", defaultValue = "on",
            description = "on: all-reduce through shared memory when every rank runs on one host; off: the ring")
    String sharedMemory;

    @Option(names = "--sizes", split = ",", defaultValue = "4KiB,1MiB,46.8MB")
    List<String> sizes;

    @Option(names = "--rounds", defaultValue = "5", description = "all-reduce samples per size (each about 300 ms)")
    int rounds;

    @Option(names = "--chunk-bytes", defaultValue = "65384")
    int chunkBytes;

    @Option(names = "--compression", defaultValue = "NONE")
    WireCompression compression;

    @Option(names = "--wire-security", defaultValue = "off",
            description = "off, auth (every frame authenticated) or encrypt (and encrypted); the same on every rank")
    String wireSecurity;

    /** Runs one rank without the {@code lockstep} launcher. */
    public static void main(String[] args) {
        System.exit(new picocli.CommandLine(new AllReduceRankBenchmark()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        int rank = process.rank;
        if (localRanks < 1 || rank + localRanks > process.ranks) {
            throw new IllegalArgumentException("--rank " + rank + " --local-ranks " + localRanks + " must stay within "
                    + "--ranks " + process.ranks);
        }
        CollectiveConfig config = process.collectiveConfig(TIMEOUT_MS).transport(transport).chunkBytes(chunkBytes)
                .wireCompression(compression).wireSecurity(WireSecurity.parse(wireSecurity))
                .allReduceTopology(AllReduceTopology.parse(topology)).sharedMemory(switch (sharedMemory) {
                    case "on" -> true;
                    case "off" -> false;
                    default -> throw new IllegalArgumentException("--shared-memory: on or off, was " + sharedMemory);
                }).build();
        ExecutorService threads = Executors.newFixedThreadPool(localRanks);
        try {
            List<Future<Void>> running = new ArrayList<>();
            for (int r = rank; r < rank + localRanks; r++) {
                int myRank = r;
                running.add(threads.submit(() -> {
                    runRank(config, myRank);
                    return null;
                }));
            }
            for (Future<Void> future : running) {
                future.get();
            }
        } finally {
            threads.shutdownNow();
        }
        return 0;
    }

    private void runRank(CollectiveConfig config, int myRank) {
        JobSecret secret = JobSecret.derive("bench".getBytes(StandardCharsets.UTF_8), "allreduce-rank");
        int ranks = process.ranks;
        try (AeronCollective collective = AeronCollective.open(config, new GroupMember("allreduce-rank", secret, 0, myRank,
                ranks), local -> FileRendezvous.exchange(process.rendezvous, myRank, ranks, local, TIMEOUT_MS))) {
            HostLayout layout = collective.hostLayout();
            if (myRank == 0) {
                System.out.printf(Locale.ROOT, "Lockstep all-reduce across processes, %s%n", Instant.now());
                System.out.printf(Locale.ROOT, "N=%d (%d per process), transport %s, mtu %d, chunk %d B, window %d, "
                        + "idle %s, compression %s, wire security %s, nominal link %s%n", ranks, localRanks, transport,
                        process.mtu, chunkBytes, process.window, process.idle, compression, wireSecurity, process.nominalLink());
                System.out.printf(Locale.ROOT, "all-reduce %s%n", layout.reason());
                System.out.printf(Locale.ROOT, "%10s %12s %11s %12s %8s %10s %14s%n", "size", "time/op ms", "busbw MB/s",
                        "B_link MB/s", "/B_link", "/nominal", "per round us");
            }
            int rounds = layout.hierarchical() ? 2 * (layout.perHost() - 1) + 2 * (layout.hosts() - 1) : 2 * (ranks - 1);
            for (String size : sizes) {
                measure(collective, AllReduceBenchmark.parseSize(size), rounds);
            }
            collective.barrier();
        }
    }

    private void measure(AeronCollective collective, long bytes, int latencyRounds) {
        int floats = (int) (bytes / Float.BYTES);
        float[] data = AllReduceBenchmark.gradient(collective.rank(), floats);
        collective.allReduce(data, 0, floats, ReduceOp.AVERAGE);
        int ranks = process.ranks;
        double busFactor = 2.0 * (ranks - 1) / ranks;
        double[] millis = new double[rounds];
        double[] ratios = new double[rounds];
        double[] streams = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            collective.barrier();
            double streamSeconds = slowest(collective, collective.measureRingStream(STREAM_BYTES, ranks)) / 1e9;
            streams[r] = STREAM_BYTES / streamSeconds / 1e6;
            // As many back-to-back operations as fill 300 ms at the speed of one (rank 0's count for all).
            collective.barrier();
            long probe = System.nanoTime();
            collective.allReduce(data, 0, floats, ReduceOp.AVERAGE);
            long one = Math.max(1, System.nanoTime() - probe);
            int ops = ByteBuffer.wrap(collective.broadcast(ByteBuffer.allocate(Integer.BYTES)
                    .putInt((int) Math.min(100_000, Math.max(1, TimeUnit.MILLISECONDS.toNanos(300) / one))).array(), 0))
                    .getInt();
            collective.barrier();
            long start = System.nanoTime();
            for (int op = 0; op < ops; op++) {
                collective.allReduce(data, 0, floats, ReduceOp.AVERAGE);
            }
            long elapsed = slowest(collective, System.nanoTime() - start);
            millis[r] = elapsed / 1e6 / ops;
            ratios[r] = busFactor * bytes / (millis[r] / 1e3) / 1e6 / streams[r];
        }
        if (collective.rank() == 0) {
            double ms = median(millis);
            double busbw = busFactor * bytes / (ms / 1e3) / 1e6;
            double nominal = process.linkMbps > 0 ? busbw / (process.linkMbps / 8) : Double.NaN;
            System.out.printf(Locale.ROOT, "%10s %12.3f %11.1f %12.1f %8.2f %10s %14.1f%n",
                    AllReduceBenchmark.formatSize(bytes), ms, busbw, median(streams), median(ratios),
                    Double.isNaN(nominal) ? "-" : String.format(Locale.ROOT, "%.2f", nominal),
                    ms * 1e3 / latencyRounds);
            System.out.printf(Locale.ROOT, "           per round /B_link: %s%n", Arrays.toString(Arrays.stream(ratios)
                    .map(v -> Math.round(v * 100) / 100.0).toArray()));
        }
    }

    /** The largest of every rank's {@code nanos} (a ring operation is as slow as its slowest rank). */
    private static long slowest(AeronCollective collective, long nanos) {
        long max = 0;
        for (byte[] value : collective.allGather(ByteBuffer.allocate(Long.BYTES).putLong(nanos).array())) {
            max = Math.max(max, ByteBuffer.wrap(value).getLong());
        }
        return max;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
