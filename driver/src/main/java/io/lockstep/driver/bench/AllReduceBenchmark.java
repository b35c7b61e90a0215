package io.lockstep.driver.bench;

import io.aeron.driver.ThreadingMode;
import io.lockstep.worker.comm.AeronCollective;
import io.lockstep.worker.comm.ThreadRanks;
import org.agrona.concurrent.SystemNanoClock;
import io.lockstep.worker.comm.CollectiveConfig;
import io.lockstep.worker.comm.IdleMode;
import io.lockstep.worker.comm.JobSecret;
import io.lockstep.worker.comm.ReduceOp;
import io.lockstep.worker.comm.SealImplementation;
import io.lockstep.worker.comm.SealProbe;
import io.lockstep.worker.comm.TransportMode;
import io.lockstep.worker.comm.WireCompression;
import io.lockstep.worker.comm.WireSecurity;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.BufferedReader;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.IntStream;

/**
 * {@code lockstep bench allreduce}: the ring all-reduce over Aeron against the limits of the machine
 * and against Spark's own way of averaging.
 *
 * <p>For each transport and group size N, the N ranks run as threads of this JVM, each with its own
 * Aeron client on the JVM's one media driver: {@code ipc} runs the ring over shared-memory IPC links,
 * {@code shm} the shared-memory all-reduce of ranks on one host (no ring at all), {@code udp}
 * forces every link onto UDP over loopback (127.0.0.1) through the driver's sockets. Per buffer size it
 * prints the time per all-reduce (AVERAGE, in place), the algorithm bandwidth (bytes / time), the bus
 * bandwidth (2(N−1)/N · bytes / time, what each link carries per second) and, measured in the same run:
 * <ul>
 *   <li><b>B_link(N)</b>, the ring streaming limit: the same N ranks on the same links, each streaming
 *       raw frames of the same size to its successor at full speed, with no reduction and no
 *       synchronization. Each all-reduce sample is compared with the stream sample taken just before
 *       it, so both saw the same machine load, and the median of those ratios is reported;</li>
 *   <li>a single two-rank stream in one direction, for reference (on a box with few cores N concurrent
 *       streams share the CPU, so it is not a fair limit for N &gt; 2);</li>
 *   <li>averaging the same buffers with Spark's {@code treeAggregate} over N tasks in {@code local[N]}
 *       (what DL4J's parameter averaging and BigDL do); the result only reaches the driver, so a real
 *       parameter-averaging round would also pay a broadcast back.</li>
 * </ul>
 * <p>Each wire security mode ({@code --wire-security}) gets its own group of N ranks; their samples are
 * interleaved round by round, so every mode sees the same machine load, and {@code /off} is the median
 * over rounds of (busbw of the mode / busbw of {@code off} in the same round).
 *
 * <p>Prints figures; asserts nothing. Needs the JVM flags of {@code bin/lockstep} and a heap of about
 * N × 3 × the largest size (use {@code --spark-max-size} to spare Spark the largest buffers).
 */
@Command(name = "allreduce", mixinStandardHelpOptions = true, showDefaultValues = true,
        description = "Ring all-reduce over Aeron (IPC and UDP loopback) vs the ring streaming limit and Spark "
                + "treeAggregate.")
public final class AllReduceBenchmark implements Callable<Integer> {
    private static final long WAIT_MINUTES = 30;

    @Option(names = "--ranks", split = ",", defaultValue = "2,4", description = "group sizes N")
    List<Integer> ranks;

    @Option(names = "--transports", split = ",", defaultValue = "ipc,udp",
            description = "ipc (ring over IPC: threads sharing one driver), shm (the shared-memory all-reduce of "
                    + "ranks on one host; B_link is still the IPC ring's) and/or udp (every link over UDP loopback); "
                    + "repeat to alternate, e.g. ipc,shm,ipc,shm")
    List<String> transports;

    @Option(names = "--sizes", split = ",", defaultValue = "4KiB,64KiB,1MiB,16MiB,46.8MB,128MiB",
            description = "buffer sizes (KB/MB decimal, KiB/MiB binary); 46.8MB is ResNet-18's gradient")
    List<String> sizes;

    @Option(names = "--rounds", defaultValue = "5",
            description = "interleaved samples per size (stream, all-reduce); medians are reported")
    int rounds;

    @Option(names = "--sample-ms", defaultValue = "300", description = "minimum duration of one all-reduce sample")
    long sampleMs;

    @Option(names = "--stream-mib", defaultValue = "48", description = "MiB each link streams per B_link sample")
    int streamMib;

    // picocli's negatable form sets the *inverse of the fallback value*; without fallbackValue = "true",
    // --no-spark would leave the default (true) in place.
    @Option(names = "--spark", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "measure Spark treeAggregate (--no-spark: Aeron only)")
    boolean spark;

    @Option(names = "--spark-max-size", defaultValue = "128MiB", description = "largest size given to Spark")
    String sparkMaxSize;

    @Option(names = "--spark-rounds", defaultValue = "3")
    int sparkRounds;

    @Option(names = "--mtu", defaultValue = "65504",
            description = "UDP frame size; 65504 suits loopback (the product default, 8192, suits a LAN)")
    int mtu;

    @Option(names = "--chunk-bytes", defaultValue = "65384",
            description = "ring payload per frame (65384 fills one 65504-byte frame with header and tag)")
    int chunkBytes;

    @Option(names = "--term-length", defaultValue = "8388608")
    int termLength;

    @Option(names = "--window", defaultValue = "4194304", description = "receiver window of the ring links")
    int window;

    @Option(names = "--socket-buffer", defaultValue = "4194304", description = "SO_RCVBUF and SO_SNDBUF")
    int socketBuffer;

    @Option(names = "--driver-threading", defaultValue = "SHARED_NETWORK")
    ThreadingMode threading;

    @Option(names = "--idle", defaultValue = "BACKOFF")
    IdleMode idle;

    @Option(names = "--compression", defaultValue = "NONE")
    WireCompression compression;

    @Option(names = "--wire-security", split = ",", defaultValue = "off,auth,encrypt",
            description = "frame protection modes to compare: off, auth, encrypt")
    List<String> wireSecurity;

    @Option(names = "--dir", description = "media driver root directory (default: java.io.tmpdir)")
    String directory;

    /** One core's sealing rates of each mode by the implementation in force (the probe's). */
    private final Map<WireSecurity, SealProbe> sealProbes = new EnumMap<>(WireSecurity.class);

    /** Runs the benchmark without the {@code lockstep} launcher (for a build without the CLI registration). */
    public static void main(String[] args) {
        System.exit(new picocli.CommandLine(new AllReduceBenchmark()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        List<Long> byteSizes = sizes.stream().map(AllReduceBenchmark::parseSize).toList();
        for (long size : byteSizes) {
            if (size % Float.BYTES != 0 || size / Float.BYTES > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("--sizes: " + size + " bytes is not a whole number of floats");
            }
        }
        printHeader();
        printSealCost();
        Map<String, Double> sparkMillis = new LinkedHashMap<>();
        List<String> rows = new ArrayList<>();
        for (String transport : transports) {
            TransportMode mode = switch (transport.toLowerCase(Locale.ROOT)) {
                case "ipc", "shm" -> TransportMode.AUTO;
                case "udp" -> TransportMode.UDP;
                default -> throw new IllegalArgumentException("--transports: unknown transport " + transport);
            };
            boolean shared = transport.equalsIgnoreCase("shm");
            double single = singleStream(mode, WireSecurity.parse(wireSecurity.get(0)));
            System.out.printf(Locale.ROOT, "%n[%s] single two-rank stream, one direction: %.0f MB/s%n", transport, single);
            for (int n : ranks) {
                measureGroup(transport, mode, shared, n, byteSizes, rows);
            }
        }
        if (spark) {
            long sparkMax = parseSize(sparkMaxSize);
            for (int n : ranks) {
                for (long size : byteSizes) {
                    if (size <= sparkMax) {
                        sparkMillis.put(n + "/" + size, treeAggregate(n, (int) (size / Float.BYTES)));
                    }
                }
            }
        }
        System.out.printf(Locale.ROOT, "%n%-4s %-7s %3s %10s %12s %11s %11s %6s %12s %8s %13s %9s%n", "link", "wire",
                "N", "size", "time/op ms", "algbw MB/s", "busbw MB/s", "/" + wireSecurity.get(0), "B_link MB/s",
                "/B_link", "treeAggr ms", "speed-up");
        for (String row : rows) {
            String[] f = row.split(";");
            Double sparkTime = sparkMillis.get(f[1] + "/" + f[2]);
            double millis = Double.parseDouble(f[3]);
            System.out.printf(Locale.ROOT, "%-4s %-7s %3s %10s %12.3f %11.0f %11.0f %6.2f %12.0f %8.2f %13s %9s%n", f[0],
                    f[8], f[1], formatSize(Long.parseLong(f[2])), millis, Double.parseDouble(f[4]),
                    Double.parseDouble(f[5]), Double.parseDouble(f[9]), Double.parseDouble(f[6]), Double.parseDouble(f[7]),
                    sparkTime == null ? "-" : String.format(Locale.ROOT, "%.1f", sparkTime),
                    sparkTime == null ? "-" : String.format(Locale.ROOT, "%.1fx", sparkTime / millis));
        }
        System.out.println("B_link: median of the ring-stream samples interleaved with that size's all-reduce samples; "
                + "/B_link: median over rounds of (all-reduce busbw / the stream sample taken just before it); /"
                + wireSecurity.get(0) + ": median over rounds of (busbw / busbw of " + wireSecurity.get(0)
                + " in the same round). B_link is measured with the same wire security as its row.");
        return 0;
    }

    private CollectiveConfig config(TransportMode mode, boolean sharedMemory, WireSecurity security) {
        CollectiveConfig.Builder builder = CollectiveConfig.builder()
                .sharedMemory(sharedMemory)
                .wireSecurity(security)
                .bindAddress("127.0.0.1")
                .transport(mode)
                .mtuBytes(mtu)
                .chunkBytes(chunkBytes)
                .termLengthBytes(termLength)
                .receiverWindowBytes(window)
                .socketReceiveBufferBytes(socketBuffer)
                .socketSendBufferBytes(socketBuffer)
                .driverThreading(threading)
                .idleMode(idle)
                .driverIdleMode(idle)
                .wireCompression(compression)
                .operationTimeoutMs(TimeUnit.MINUTES.toMillis(5));
        if (directory != null) {
            builder.driverDirectoryRoot(directory);
        }
        return builder.build();
    }

    private void printHeader() {
        System.out.printf(Locale.ROOT, "Lockstep all-reduce benchmark, %s%n", Instant.now());
        System.out.printf(Locale.ROOT, "machine: %d cores (nproc), load average %s, Java %s, max heap %d MiB%n",
                Runtime.getRuntime().availableProcessors(), loadAverage(), System.getProperty("java.version"),
                Runtime.getRuntime().maxMemory() >> 20);
        CollectiveConfig config = config(TransportMode.AUTO, false, WireSecurity.OFF);
        System.out.printf(Locale.ROOT, "aeron: mtu %d, chunk %d B, term %d, window %d, socket buffers %d, driver %s, "
                        + "idle %s, compression %s, driver dir root %s%n", config.mtuBytes(), config.chunkBytes(),
                config.termLengthBytes(), config.receiverWindowBytes(), config.socketReceiveBufferBytes(),
                config.driverThreading(), config.idleMode(), config.wireCompression(), config.driverDirectoryRoot());
        System.out.printf(Locale.ROOT, "ranks are threads of this JVM; ipc = the ring over IPC through one media "
                + "driver, shm = the shared-memory all-reduce (segments in %s), udp = every link over UDP via 127.0.0.1 "
                + "through that driver; %d interleaved rounds per size, medians; wire security modes %s, "
                + "interleaved%n", config.sharedMemoryDirectory(), rounds, wireSecurity);
    }

    /**
     * What wire security costs one core per frame of {@code --chunk-bytes}, with HmacSHA256 over the same
     * bytes for reference: the figures that bound the all-reduce's cost on a CPU-bound machine.
     */
    private void printSealCost() throws Exception {
        sealProbes.clear();
        System.out.printf(Locale.ROOT, "wire security sealed with %s (in force in this JVM)%n",
                SealImplementation.inForce().displayName());
        // The JDK's figures too where the native one is in force: the ratio is what the choice is worth.
        List<SealImplementation> implementations = SealImplementation.inForce() == SealImplementation.JDK
                ? List.of(SealImplementation.JDK) : List.of(SealImplementation.inForce(), SealImplementation.JDK);
        for (String name : wireSecurity) {
            WireSecurity security = WireSecurity.parse(name);
            if (security == WireSecurity.OFF) {
                continue;
            }
            for (SealImplementation implementation : implementations) {
                // Warm-up first: the JIT compiles the AES intrinsics.
                SealProbe.measure(security, implementation, chunkBytes, 1_000);
                SealProbe probe = SealProbe.measure(security, implementation, chunkBytes, 1_000);
                if (implementation == SealImplementation.inForce()) {
                    sealProbes.put(security, probe);
                }
                System.out.printf(Locale.ROOT, "one core, %s by %s, %d-byte frames: seal %.0f MB/s, seal and open "
                                + "%.0f MB/s, %.0f bytes allocated per frame%n", name, implementation.displayName(),
                        chunkBytes, probe.sealMegabytesPerSecond(), probe.roundTripMegabytesPerSecond(),
                        probe.allocatedBytesPerFrame());
            }
        }
        Mac hmac = Mac.getInstance("HmacSHA256");
        hmac.init(new SecretKeySpec(new byte[32], "HmacSHA256"));
        byte[] frame = new byte[chunkBytes];
        byte[] tag = new byte[hmac.getMacLength()];
        for (int pass = 0; pass < 2; pass++) { // the first pass warms up
            long start = System.nanoTime();
            long frames = 0;
            while (System.nanoTime() - start < TimeUnit.SECONDS.toNanos(1)) {
                hmac.update(frame, 0, frame.length);
                hmac.doFinal(tag, 0);
                frames++;
            }
            if (pass == 1) {
                System.out.printf(Locale.ROOT, "one core, reference: HmacSHA256 over %d-byte frames %.0f MB/s%n",
                        chunkBytes, frames * (double) chunkBytes / 1e6 / ((System.nanoTime() - start) / 1e9));
            }
        }
    }

    /**
     * One group size on one transport: per wire security mode a group of N ranks; B_link samples interleaved
     * with all-reduce samples, size by size, the modes taking turns within every round.
     */
    private void measureGroup(String transport, TransportMode mode, boolean shared, int n, List<Long> byteSizes,
                              List<String> rows)
            throws Exception {
        List<WireSecurity> modes = wireSecurity.stream().map(WireSecurity::parse).toList();
        List<Group> groups = new ArrayList<>();
        try {
            for (WireSecurity security : modes) {
                groups.add(Group.open(n, config(mode, shared, security)));
            }
            long streamBytes = (long) streamMib << 20;
            for (Group group : groups) {
                group.run(c -> c.measureRingStream(streamBytes, n)); // warm-up: touches the log buffers once
            }
            int m = modes.size();
            List<List<Double>> linkSamples = new ArrayList<>();
            for (int k = 0; k < m; k++) {
                linkSamples.add(new ArrayList<>());
            }
            for (long size : byteSizes) {
                int floats = (int) (size / Float.BYTES);
                float[][] buffers = new float[n][];
                for (int rank = 0; rank < n; rank++) {
                    buffers[rank] = gradient(rank, floats);
                }
                int[] iterations = new int[m];
                for (int k = 0; k < m; k++) {
                    iterations[k] = calibrate(groups.get(k), buffers);
                }
                double[][] millis = new double[m][rounds];
                double[][] links = new double[m][rounds];
                double[][] ratios = new double[m][rounds];
                double[][] againstFirst = new double[m][rounds];
                for (int round = 0; round < rounds; round++) {
                    for (int k = 0; k < m; k++) {
                        Group group = groups.get(k);
                        int count = iterations[k];
                        group.run(c -> {
                            c.barrier();
                            return 0L;
                        });
                        long streamNanos = max(group.run(c -> c.measureRingStream(streamBytes, n)));
                        links[k][round] = streamBytes / (streamNanos / 1e9) / 1e6;
                        linkSamples.get(k).add(links[k][round]);
                        long nanos = max(group.run(c -> {
                            c.barrier();
                            long start = System.nanoTime();
                            for (int i = 0; i < count; i++) {
                                c.allReduce(buffers[c.rank()], ReduceOp.AVERAGE);
                            }
                            return System.nanoTime() - start;
                        }));
                        millis[k][round] = nanos / 1e6 / count;
                        // Each all-reduce sample is judged against the stream sample taken just before it, so
                        // both saw the same machine load; modes are compared within the same round.
                        ratios[k][round] = busBandwidth(n, size, millis[k][round]) / links[k][round];
                        againstFirst[k][round] = millis[0][round] / millis[k][round];
                    }
                }
                for (int k = 0; k < m; k++) {
                    double medianMillis = median(millis[k]);
                    double algorithm = size / (medianMillis / 1e3) / 1e6;
                    double bus = busBandwidth(n, size, medianMillis);
                    double link = median(links[k]);
                    double ratio = median(ratios[k]);
                    double relative = median(againstFirst[k]);
                    String security = modes.get(k).optionName();
                    rows.add(String.join(";", transport, Integer.toString(n), Long.toString(size),
                            Double.toString(medianMillis), Double.toString(algorithm), Double.toString(bus),
                            Double.toString(link), Double.toString(ratio), security, Double.toString(relative)));
                    System.out.printf(Locale.ROOT, "[%s %s] N=%d %10s: %10.3f ms/op, busbw %7.0f MB/s, B_link %6.0f MB/s, "
                                    + "busbw/B_link %.2f (per round: %s), busbw vs %s %.2f (per round: %s)%n", transport,
                            security, n, formatSize(size), medianMillis, bus, link, ratio, format(ratios[k]),
                            modes.get(0).optionName(), relative, format(againstFirst[k]));
                    SealProbe probe = sealProbes.get(modes.get(k));
                    if (!shared && probe != null && modes.get(0) == WireSecurity.OFF) {
                        double sealing = sealingMillisPerRank(n, size, modes.get(k), probe.sealMegabytesPerSecond(),
                                probe.roundTripMegabytesPerSecond());
                        int cores = Runtime.getRuntime().availableProcessors();
                        System.out.printf(Locale.ROOT, "[%s %s] N=%d %10s: sealing and opening take %.1f ms of a core "
                                        + "per rank per op (at the probe's %.0f MB/s sealed, %.0f MB/s sealed and "
                                        + "opened); with no CPU to spare on %d cores that alone would make busbw vs "
                                        + "off %.2f%n", transport, security, n, formatSize(size), sealing,
                                probe.sealMegabytesPerSecond(), probe.roundTripMegabytesPerSecond(), cores,
                                cpuBoundRatio(median(millis[0]), sealing, n, cores));
                    }
                }
            }
            for (int k = 0; k < m; k++) {
                List<Double> samples = linkSamples.get(k);
                System.out.printf(Locale.ROOT, "[%s %s] N=%d ring streaming limit B_link(%d) over the whole run: median "
                                + "%.0f MB/s per link (%d samples of %d MiB, min %.0f, max %.0f)%n", transport,
                        modes.get(k).optionName(), n, n,
                        median(samples.stream().mapToDouble(Double::doubleValue).toArray()), samples.size(), streamMib,
                        samples.stream().mapToDouble(Double::doubleValue).min().orElse(0),
                        samples.stream().mapToDouble(Double::doubleValue).max().orElse(0));
            }
        } finally {
            for (Group group : groups) {
                group.close();
            }
        }
    }

    private static List<String> format(double[] values) {
        return Arrays.stream(values).mapToObj(r -> String.format(Locale.ROOT, "%.2f", r)).toList();
    }

    /**
     * CPU milliseconds one rank of a ring all-reduce of {@code size} bytes spends on AES-GCM at one core's rates
     * (payload MB/s): it opens all it receives, 2(N−1)/N of the buffer, and seals all it sends but the frames it
     * forwards under their originator's seal ({@link WireSecurity#forwardsSealedFrames}: the N − 2 all-gather
     * steps after the first, (N−2)/N of the buffer).
     */
    static double sealingMillisPerRank(int n, long size, WireSecurity mode, double sealMegabytesPerSecond,
                                       double sealAndOpenMegabytesPerSecond) {
        double received = ringBytesEachWay(n, size) / 1e6;
        double sealed = received - (mode.forwardsSealedFrames(n) ? (double) (n - 2) / n * size / 1e6 : 0);
        double openSecondsPerMegabyte = 1 / sealAndOpenMegabytesPerSecond - 1 / sealMegabytesPerSecond;
        return (sealed / sealMegabytesPerSecond + received * openSecondsPerMegabyte) * 1e3;
    }

    /**
     * Bus bandwidth relative to plaintext if the all-reduce already kept {@code cores} cores busy, so that the
     * {@code n} ranks' sealing CPU adds to its time: the cost on a CPU-bound machine. Where the link is the
     * limit and the ranks have CPU to spare, the cost is lower, down to nothing.
     */
    static double cpuBoundRatio(double plainMillis, double sealingMillisPerRank, int n, int cores) {
        return plainMillis / (plainMillis + n * sealingMillisPerRank / cores);
    }

    private static double busBandwidth(int n, long size, double millis) {
        return ringBytesEachWay(n, size) / (millis / 1e3) / 1e6;
    }

    /** Bytes each rank of a ring all-reduce of {@code size} bytes sends, and receives: 2(N−1)/N of the buffer. */
    private static double ringBytesEachWay(int n, long size) {
        return 2.0 * (n - 1) / n * size;
    }

    /** Iterations per sample so that one sample lasts at least {@code sampleMs} (after one warm-up op). */
    private int calibrate(Group group, float[][] buffers) throws Exception {
        long nanos = max(group.run(c -> {
            c.barrier();
            long start = System.nanoTime();
            c.allReduce(buffers[c.rank()], ReduceOp.AVERAGE);
            return System.nanoTime() - start;
        }));
        return (int) Math.max(1, Math.min(10_000, TimeUnit.MILLISECONDS.toNanos(sampleMs) / Math.max(1, nanos)));
    }

    private double singleStream(TransportMode mode, WireSecurity security) throws Exception {
        try (Group group = Group.open(2, config(mode, false, security))) {
            long bytes = (long) streamMib << 20;
            group.run(c -> c.measureRingStream(bytes, 1));
            double[] samples = new double[rounds];
            for (int round = 0; round < rounds; round++) {
                long nanos = max(group.run(c -> c.measureRingStream(bytes, 1)));
                samples[round] = bytes / (nanos / 1e9) / 1e6;
            }
            return median(samples);
        }
    }

    /** Spark's way: N partitions of the same buffers, summed with treeAggregate on the driver, divided by N. */
    private double treeAggregate(int n, int floats) {
        SparkConf conf = new SparkConf().setMaster("local[" + n + "]").setAppName("lockstep-bench-treeaggregate")
                .set("spark.ui.enabled", "false")
                .set("spark.driver.maxResultSize", "0")
                .set("spark.scheduler.minRegisteredResourcesRatio", "1.0");
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            sc.setLogLevel("WARN");
            JavaRDD<float[]> buffers = sc.parallelize(IntStream.range(0, n).boxed().toList(), n)
                    .map(rank -> gradient(rank, floats))
                    .persist(StorageLevel.MEMORY_ONLY());
            buffers.count();
            buffers.treeAggregate(new float[floats], AllReduceBenchmark::addInto, AllReduceBenchmark::addInto, 2);
            double[] samples = new double[sparkRounds];
            for (int round = 0; round < sparkRounds; round++) {
                long start = System.nanoTime();
                float[] sum = buffers.treeAggregate(new float[floats], AllReduceBenchmark::addInto,
                        AllReduceBenchmark::addInto, 2);
                for (int i = 0; i < sum.length; i++) {
                    sum[i] /= n;
                }
                samples[round] = (System.nanoTime() - start) / 1e6;
            }
            buffers.unpersist(true);
            double millis = median(samples);
            System.out.printf(Locale.ROOT, "[spark] local[%d] treeAggregate of %s: %.1f ms%n", n,
                    formatSize((long) floats * Float.BYTES), millis);
            return millis;
        }
    }

    private static float[] addInto(float[] accumulator, float[] values) {
        for (int i = 0; i < accumulator.length; i++) {
            accumulator[i] += values[i];
        }
        return accumulator;
    }

    /** Gradient-like values, the same for the Aeron ranks and the Spark partitions of one rank. */
    static float[] gradient(int rank, int floats) {
        SplittableRandom random = new SplittableRandom(1_000 + rank);
        float[] values = new float[floats];
        for (int i = 0; i < floats; i++) {
            values[i] = (float) (random.nextDouble() - 0.5) * 0.01f;
        }
        return values;
    }

    static long parseSize(String text) {
        String t = text.trim();
        String[][] units = {{"KiB", "1024"}, {"MiB", "1048576"}, {"GiB", "1073741824"}, {"KB", "1000"},
                {"MB", "1000000"}, {"GB", "1000000000"}, {"B", "1"}};
        for (String[] unit : units) {
            if (t.endsWith(unit[0])) {
                double value = Double.parseDouble(t.substring(0, t.length() - unit[0].length()).trim());
                long bytes = Math.round(value * Long.parseLong(unit[1]));
                return bytes - bytes % Float.BYTES;
            }
        }
        return Long.parseLong(t);
    }

    static String formatSize(long bytes) {
        if (bytes % (1 << 20) == 0 && bytes >= 1 << 20) {
            return (bytes >> 20) + " MiB";
        }
        if (bytes % 1024 == 0 && bytes >= 1024) {
            return (bytes >> 10) + " KiB";
        }
        return String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int middle = sorted.length / 2;
        return sorted.length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    private static long max(List<Long> values) {
        return values.stream().mapToLong(Long::longValue).max().orElseThrow();
    }

    private static String loadAverage() {
        try (BufferedReader reader = Files.newBufferedReader(Path.of("/proc/loadavg"))) {
            String line = reader.readLine();
            return line == null ? "?" : String.join(" ", Arrays.copyOf(line.split(" "), 3));
        } catch (IOException | RuntimeException e) {
            return String.format(Locale.ROOT, "%.2f", ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        }
    }

    /** N ranks as threads ({@link ThreadRanks}); a rank's failure is rethrown as its own exception. */
    private static final class Group implements AutoCloseable {
        private final ThreadRanks ranks;

        private Group(ThreadRanks ranks) {
            this.ranks = ranks;
        }

        static Group open(int n, CollectiveConfig config) throws Exception {
            return new Group(ThreadRanks.open(n, config, "bench", JobSecret.random(), 0, SystemNanoClock.INSTANCE,
                    TimeUnit.MINUTES.toMillis(WAIT_MINUTES), "bench-rank-"));
        }

        <T> List<T> run(Function<AeronCollective, T> task) throws Exception {
            List<T> results = new ArrayList<>();
            for (Future<T> future : ranks.start(task)) {
                try {
                    results.add(ranks.await(future));
                } catch (ExecutionException e) {
                    throw e.getCause() instanceof Exception cause ? cause : e;
                }
            }
            return results;
        }

        @Override
        public void close() throws Exception {
            ranks.close();
        }
    }
}
