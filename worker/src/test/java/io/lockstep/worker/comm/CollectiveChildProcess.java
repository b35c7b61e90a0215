package io.lockstep.worker.comm;

import io.lockstep.worker.testing.ChildJvm;
import io.lockstep.worker.testing.ProcessFiles;
import org.slf4j.LoggerFactory;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * One rank in its own JVM for {@link MultiProcessCollectiveTest}: rendezvous through files in a shared
 * directory, run the common workload and write its results, then play its part in the failure scenario.
 *
 * <p>Arguments: {@code <directory> <rank> <size> <scenario> [shared]}; {@code shared} turns on the
 * shared-memory all-reduce (the ranks run on one machine), otherwise all-reduces take the ring; scenario {@code survivor} waits for rank 0's
 * {@code go} file, enters one more all-reduce and records how it failed; {@code doomed} announces that it
 * enters one more all-reduce and waits there to be killed; {@code paused} (for {@link ProcessStallTest})
 * passes a barrier, then announces that it enters an all-reduce, of {@code rank + 1} in every element, with a deadline long
 * enough to outlast the pause its parent imposes, and records the outcome with the first element.
 */
public final class CollectiveChildProcess {
    static final String JOB = "multi-process";
    static final JobSecret SECRET = InProcessGroup.secret(0x5EC12E7L);
    static final long FAILURE_TIMEOUT_MS = 6_000;
    /**
     * Length of the all-reduce the doomed rank dies in: large enough that through shared memory the survivors
     * need the doomed rank's reduced shard (a small one they would finish from its input alone).
     */
    static final int FAILURE_LENGTH = 100_000;
    /**
     * Deadline of the ranks that must not give up first: the {@code doomed} rank (killed inside an
     * all-reduce; its own deadline must not expire before the parent kills it, however slow the parent is)
     * and the {@code paused} rank (its all-reduce spans the pause).
     */
    static final long LONG_TIMEOUT_MS = 60_000;
    private static final long RENDEZVOUS_TIMEOUT_MS = 60_000;
    /**
     * How long a rank waits for every endpoint file: it includes a child JVM's start and its media driver's,
     * which on a loaded machine (a niced test beside a training job) took more than a minute.
     */
    private static final long ENDPOINTS_TIMEOUT_MS = 180_000;

    private CollectiveChildProcess() {
    }

    public static void main(String[] args) throws Exception {
        Path directory = Path.of(args[0]);
        int rank = Integer.parseInt(args[1]);
        int size = Integer.parseInt(args[2]);
        String scenario = args[3];
        boolean paused = scenario.equals("paused");
        boolean outlastsTheParent = paused || scenario.equals("doomed");
        boolean shared = args.length > 4 && args[4].equals("shared");
        try (AeronCollective collective = AeronCollective.open(
                config(outlastsTheParent ? LONG_TIMEOUT_MS : FAILURE_TIMEOUT_MS, shared),
                new GroupMember(JOB, SECRET, 0, rank, size), local -> exchange(directory, local, size))) {
            if (paused) {
                collective.barrier();
                ProcessFiles.writeAtomically(directory.resolve("entering-" + rank), out -> { });
                float[] values = new float[1_000];
                Arrays.fill(values, rank + 1);
                collective.allReduce(values, ReduceOp.SUM);
                String text = "COMPLETED " + values[0];
                ProcessFiles.writeAtomically(directory.resolve("outcome-" + rank), out -> out.write(text.getBytes(StandardCharsets.UTF_8)));
                System.exit(0);
            }
            Workload results = Workload.run(collective);
            ProcessFiles.writeAtomically(directory.resolve("result-" + rank), results::writeTo);
            if (scenario.equals("doomed")) {
                ProcessFiles.writeAtomically(directory.resolve("entering-" + rank), out -> { });
            } else {
                // Start the deadline together with rank 0, which signals once the doomed rank is dead.
                ProcessFiles.awaitFile(directory.resolve("go"), System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(RENDEZVOUS_TIMEOUT_MS));
            }
            String outcome;
            try {
                collective.allReduce(new float[FAILURE_LENGTH], ReduceOp.SUM);
                outcome = "COMPLETED";
            } catch (CollectiveTimeoutException e) {
                outcome = "TIMEOUT " + e.silentRanks() + " " + e.getMessage();
            } catch (CollectiveException e) {
                outcome = "FAILED " + e;
            }
            String text = outcome;
            ProcessFiles.writeAtomically(directory.resolve("outcome-" + rank), out -> out.write(text.getBytes(StandardCharsets.UTF_8)));
        } catch (Throwable e) {
            // The parent shows this process's log (stderr) when an assertion fails.
            LoggerFactory.getLogger(CollectiveChildProcess.class).error("rank {} failed", rank, e);
            System.exit(1);
        }
        System.exit(0);
    }

    static CollectiveConfig config() {
        return config(FAILURE_TIMEOUT_MS);
    }

    static CollectiveConfig config(long operationTimeoutMs) {
        return config(operationTimeoutMs, false);
    }

    static CollectiveConfig config(long operationTimeoutMs, boolean sharedMemory) {
        return CollectiveConfig.builder().bindAddress("127.0.0.1").sharedMemory(sharedMemory)
                .termLengthBytes(2 * 1024 * 1024)
                .chunkBytes(32 * 1024).connectTimeoutMs(RENDEZVOUS_TIMEOUT_MS).operationTimeoutMs(operationTimeoutMs)
                .heartbeatIntervalMs(100).closeLingerMs(1_000).build();
    }

    /** File-based stand-in for Spark's allGather: publish this endpoint, wait for everyone's. */
    static List<Endpoint> exchange(Path directory, Endpoint local, int size) {
        return ProcessFiles.rendezvous(directory, local, size, ENDPOINTS_TIMEOUT_MS);
    }

    /** Starts rank {@code rank} of a group of {@code size} in a child JVM, its output in {@code rank-<rank>.log}. */
    static Process launch(Path directory, int rank, int size, String scenario) throws IOException {
        return launch(directory, rank, size, scenario, false);
    }

    /** As {@link #launch(Path, int, int, String)}, all-reduces through shared memory when {@code shared}. */
    static Process launch(Path directory, int rank, int size, String scenario, boolean shared) throws IOException {
        return ChildJvm.builder(CollectiveChildProcess.class, directory.toString(), Integer.toString(rank),
                        Integer.toString(size), scenario, shared ? "shared" : "ring")
                .redirectErrorStream(true)
                .redirectOutput(directory.resolve("rank-" + rank + ".log").toFile())
                .start();
    }

    /**
     * Waits (in the parent) for a child's file; fails early, with its log, if a child process dies first.
     * {@code children.get(i)} is rank {@code i + 1}.
     */
    static void awaitOutput(Path file, List<Process> children) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(file)) {
            for (int i = 0; i < children.size(); i++) {
                Process child = children.get(i);
                if (!child.isAlive() && !Files.exists(file)) {
                    int rank = i + 1;
                    throw new AssertionError("rank " + rank + " exited with " + child.exitValue() + " before writing "
                            + file.getFileName() + ":\n" + log(file.getParent(), rank));
                }
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no " + file + " after 120 s");
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
        }
    }

    /** A child's output (its log and any stack trace). */
    static String log(Path directory, int rank) {
        try {
            return Files.readString(directory.resolve("rank-" + rank + ".log"), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    /** The same sequence of every operation on every rank, and what each rank ends up with. */
    record Workload(float[] sum, float[] single, double[] average, byte[][] gathered, float[] broadcastFloats,
                    byte[] broadcastBytes) {
        static final int LENGTH = 100_003;

        static float[] contribution(int rank, int length) {
            Random random = new Random(rank * 1_000L + length);
            float[] values = new float[length];
            for (int i = 0; i < length; i++) {
                values[i] = random.nextInt(2001) - 1000;
            }
            return values;
        }

        static byte[] bytes(int rank, int length) {
            byte[] values = new byte[length];
            new Random(rank).nextBytes(values);
            return values;
        }

        static Workload run(Collective collective) {
            int rank = collective.rank();
            float[] sum = contribution(rank, LENGTH);
            collective.allReduce(sum, ReduceOp.SUM);
            float[] single = contribution(rank, 1);
            collective.allReduce(single, ReduceOp.AVERAGE);
            collective.allReduce(new float[0], ReduceOp.SUM);
            double[] average = new double[64];
            Arrays.fill(average, rank * 2.0);
            collective.allReduce(average, ReduceOp.AVERAGE);
            byte[][] gathered = collective.allGather(bytes(rank, rank * 1_000 + 1));
            float[] floats = contribution(rank, 5_000);
            collective.broadcast(floats, 0, floats.length, 1);
            byte[] broadcastBytes = collective.broadcast(rank == 2 ? bytes(2, 7_000) : null, 2);
            collective.barrier();
            return new Workload(sum, single, average, gathered, floats, broadcastBytes);
        }

        /** What every rank of a group of {@code size} must hold. */
        static Workload expected(int size) {
            float[] sum = new float[LENGTH];
            float single = 0;
            byte[][] gathered = new byte[size][];
            for (int rank = 0; rank < size; rank++) {
                float[] contribution = contribution(rank, LENGTH);
                for (int i = 0; i < LENGTH; i++) {
                    sum[i] += contribution[i];
                }
                single += contribution(rank, 1)[0];
                gathered[rank] = bytes(rank, rank * 1_000 + 1);
            }
            double[] average = new double[64];
            Arrays.fill(average, (size - 1) * size / (double) size);
            return new Workload(sum, new float[]{single / size}, average, gathered, contribution(1, 5_000),
                    bytes(2, 7_000));
        }

        void writeTo(OutputStream stream) throws IOException {
            DataOutputStream out = new DataOutputStream(stream);
            writeFloats(out, sum);
            writeFloats(out, single);
            out.writeInt(average.length);
            for (double value : average) {
                out.writeDouble(value);
            }
            out.writeInt(gathered.length);
            for (byte[] block : gathered) {
                writeBytes(out, block);
            }
            writeFloats(out, broadcastFloats);
            writeBytes(out, broadcastBytes);
            out.flush();
        }

        static Workload readFrom(InputStream stream) throws IOException {
            DataInputStream in = new DataInputStream(stream);
            float[] sum = readFloats(in);
            float[] single = readFloats(in);
            double[] average = new double[in.readInt()];
            for (int i = 0; i < average.length; i++) {
                average[i] = in.readDouble();
            }
            byte[][] gathered = new byte[in.readInt()][];
            for (int i = 0; i < gathered.length; i++) {
                gathered[i] = readBytes(in);
            }
            return new Workload(sum, single, average, gathered, readFloats(in), readBytes(in));
        }

        private static void writeFloats(DataOutputStream out, float[] values) throws IOException {
            out.writeInt(values.length);
            for (float value : values) {
                out.writeFloat(value);
            }
        }

        private static float[] readFloats(DataInputStream in) throws IOException {
            float[] values = new float[in.readInt()];
            for (int i = 0; i < values.length; i++) {
                values[i] = in.readFloat();
            }
            return values;
        }

        private static void writeBytes(DataOutputStream out, byte[] values) throws IOException {
            out.writeInt(values.length);
            out.write(values);
        }

        private static byte[] readBytes(DataInputStream in) throws IOException {
            return in.readNBytes(in.readInt());
        }
    }
}
