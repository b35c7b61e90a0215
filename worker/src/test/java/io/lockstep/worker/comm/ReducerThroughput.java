package io.lockstep.worker.comm;

import org.agrona.BufferUtil;
import org.agrona.UnsafeApi;

import java.nio.ByteBuffer;
import java.util.Locale;

/**
 * BENCHMARK (a main, not a test): how fast one core runs the all-reduce's per-chunk arithmetic on its own,
 * to tell whether the reduction or the ring limits a shared-memory all-reduce. A 64 KiB chunk sits
 * off-heap as in an Aeron term buffer; {@link Reducer#accumulateFloats} adds it into a heap destination
 * that walks through 64 MiB (so the destination, as in a real all-reduce, comes from memory, not cache),
 * and {@link Reducer#finishFloats} divides; {@link ElementLoops#copyFloats} is the all-gather's copy.
 * Prints MB/s of fp32 payload per operation; run it with {@code java -cp <worker test and runtime classpath>
 * --add-exports=java.base/jdk.internal.misc=ALL-UNNAMED io.lockstep.worker.comm.ReducerThroughput}.
 */
public final class ReducerThroughput {
    private ReducerThroughput() {
    }

    public static void main(String[] args) {
        int chunkBytes = CollectiveConfig.DEFAULT_CHUNK_BYTES;
        int count = chunkBytes / Float.BYTES;
        ByteBuffer frame = ByteBuffer.allocateDirect(chunkBytes + 64);
        long source = BufferUtil.address(frame) + 32;
        for (int i = 0; i < count; i++) {
            UnsafeApi.putFloat(null, source + 4L * i, i * 0x1p-10f);
        }
        int slots = (64 << 20) / chunkBytes;
        float[] local = new float[slots * count];
        Reducer reducer = new Reducer(chunkBytes / 2, chunkBytes / Double.BYTES);
        for (int round = 0; round < 5; round++) {
            for (String operation : new String[]{"accumulate", "accumulate+finish", "copy (all-gather)"}) {
                long start = System.nanoTime();
                int ops = 20_000;
                for (int k = 0; k < ops; k++) {
                    long target = ElementLoops.FLOAT_ARRAY_BASE + (long) (k % slots) * count * Float.BYTES;
                    switch (operation) {
                        case "accumulate" -> reducer.accumulateFloats(Wire.ENCODING_F32, null, source, local, target, count);
                        case "accumulate+finish" -> {
                            reducer.accumulateFloats(Wire.ENCODING_F32, null, source, local, target, count);
                            reducer.finishFloats(Wire.ENCODING_F32, local, target, count, 4f);
                        }
                        default -> ElementLoops.copyFloats(Wire.ENCODING_F32, null, source, local, target, count);
                    }
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                System.out.printf(Locale.ROOT, "round %d %-18s %7.0f MB/s%n", round, operation,
                        (double) ops * chunkBytes / seconds / 1e6);
            }
        }
        System.out.println("checksum " + local[count / 3]);
    }
}
