package io.lockstep.worker.comm;

import org.slf4j.LoggerFactory;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * One rank in its own JVM for {@link MultiProcessCollectiveTest}: rendezvous through files in a shared
 * directory, run the common workload and write its results, then play its part in the failure scenario.
 *
 * <p>Arguments: {@code <directory> <rank> <size> <scenario>}; scenario {@code survivor} waits for rank 0's
 * {@code go} file, enters one more all-reduce and records how it failed; {@code doomed} announces that it
 * enters one more all-reduce and waits there to be killed.
 */
public final class CollectiveChildProcess {
    static final String JOB = "multi-process";
    static final JobSecret SECRET = InProcessGroup.secret(0x5EC12E7L);
    static final long FAILURE_TIMEOUT_MS = 6_000;
    private static final long RENDEZVOUS_TIMEOUT_MS = 60_000;

    private CollectiveChildProcess() {
    }

    public static void main(String[] args) throws Exception {
        Path directory = Path.of(args[0]);
        int rank = Integer.parseInt(args[1]);
        int size = Integer.parseInt(args[2]);
        String scenario = args[3];
        try (AeronCollective collective = AeronCollective.open(config(), new GroupMember(JOB, SECRET, 0, rank, size),
                local -> exchange(directory, local, size))) {
            Workload results = Workload.run(collective);
            writeAtomically(directory.resolve("result-" + rank), results::writeTo);
            if (scenario.equals("doomed")) {
                writeAtomically(directory.resolve("entering-" + rank), out -> { });
            } else {
                // Start the deadline together with rank 0, which signals once the doomed rank is dead.
                awaitFile(directory.resolve("go"), System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(RENDEZVOUS_TIMEOUT_MS));
            }
            String outcome;
            try {
                collective.allReduce(new float[1_000], ReduceOp.SUM);
                outcome = "COMPLETED";
            } catch (CollectiveTimeoutException e) {
                outcome = "TIMEOUT " + e.silentRanks() + " " + e.getMessage();
            } catch (CollectiveException e) {
                outcome = "FAILED " + e;
            }
            String text = outcome;
            writeAtomically(directory.resolve("outcome-" + rank), out -> out.write(text.getBytes(StandardCharsets.UTF_8)));
        } catch (Throwable e) {
            // The parent shows this process's log (stderr) when an assertion fails.
            LoggerFactory.getLogger(CollectiveChildProcess.class).error("rank {} failed", rank, e);
            System.exit(1);
        }
        System.exit(0);
    }

    static CollectiveConfig config() {
        return CollectiveConfig.builder().bindAddress("127.0.0.1").termLengthBytes(2 * 1024 * 1024)
                .chunkBytes(32 * 1024).connectTimeoutMs(RENDEZVOUS_TIMEOUT_MS).operationTimeoutMs(FAILURE_TIMEOUT_MS)
                .heartbeatIntervalMs(100).closeLingerMs(1_000).build();
    }

    /** File-based stand-in for Spark's allGather: publish this endpoint, wait for everyone's. */
    static List<Endpoint> exchange(Path directory, Endpoint local, int size) {
        try {
            writeAtomically(directory.resolve("endpoint-" + local.rank()),
                    out -> out.write(local.encode().getBytes(StandardCharsets.UTF_8)));
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(RENDEZVOUS_TIMEOUT_MS);
            List<Endpoint> endpoints = new ArrayList<>();
            for (int rank = 0; rank < size; rank++) {
                Path file = directory.resolve("endpoint-" + rank);
                awaitFile(file, deadline);
                endpoints.add(Endpoint.decode(Files.readString(file)));
            }
            return endpoints;
        } catch (IOException e) {
            throw new IllegalStateException("rendezvous through " + directory + " failed", e);
        }
    }

    static void awaitFile(Path file, long deadlineNanos) {
        while (!Files.exists(file)) {
            if (System.nanoTime() - deadlineNanos > 0) {
                throw new IllegalStateException("gave up waiting for " + file);
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
    }

    interface Writer {
        void write(OutputStream out) throws IOException;
    }

    static void writeAtomically(Path file, Writer writer) throws IOException {
        Path temporary = file.resolveSibling(file.getFileName() + ".tmp");
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(temporary))) {
            writer.write(out);
        }
        Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE);
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
