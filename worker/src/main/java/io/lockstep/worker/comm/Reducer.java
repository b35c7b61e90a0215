package io.lockstep.worker.comm;

import org.agrona.UnsafeApi;

/**
 * The arithmetic of the all-reduce on one chunk, written as plain loops over Java arrays so that the
 * JIT vectorizes them (AVX2: eight floats per instruction). Frame payloads are first copied or decoded
 * into a scratch array; local values that live off-heap (or in a byte array) are copied in and out of a
 * second one. The scratch arrays are allocated once, for the largest chunk. Owned by one thread.
 */
final class Reducer {
    private final float[] frameFloats;
    private final float[] localFloats;
    private final double[] frameDoubles;
    private final double[] localDoubles;

    Reducer(int maxFloats, int maxDoubles) {
        frameFloats = new float[maxFloats];
        localFloats = new float[maxFloats];
        frameDoubles = new double[maxDoubles];
        localDoubles = new double[maxDoubles];
    }

    /** local[i] += frame[i] for {@code count} fp32 values sent as {@code encoding}. */
    void accumulateFloats(byte encoding, Object frameBase, long source, Object base, long target, int count) {
        decodeFloats(encoding, frameBase, source, count);
        float[] local = base instanceof float[] array ? array : localFloats;
        int at = local == base ? (int) ((target - ElementLoops.FLOAT_ARRAY_BASE) >>> 2) : 0;
        if (local != base) {
            UnsafeApi.copyMemory(base, target, localFloats, ElementLoops.FLOAT_ARRAY_BASE, (long) count * Float.BYTES);
        }
        float[] frame = frameFloats;
        for (int i = 0; i < count; i++) {
            local[at + i] += frame[i];
        }
        if (local != base) {
            UnsafeApi.copyMemory(localFloats, ElementLoops.FLOAT_ARRAY_BASE, base, target, (long) count * Float.BYTES);
        }
    }

    /**
     * Finishes a fully reduced span of fp32 values: divides by {@code divisor} (unless 1) and rounds to the
     * wire precision, so the owner keeps exactly the values every other rank will decode.
     */
    void finishFloats(byte encoding, Object base, long target, int count, float divisor) {
        float[] local = base instanceof float[] array ? array : localFloats;
        int at = local == base ? (int) ((target - ElementLoops.FLOAT_ARRAY_BASE) >>> 2) : 0;
        if (local != base) {
            UnsafeApi.copyMemory(base, target, localFloats, ElementLoops.FLOAT_ARRAY_BASE, (long) count * Float.BYTES);
        }
        if (divisor != 1f) {
            for (int i = 0; i < count; i++) {
                local[at + i] /= divisor;
            }
        }
        if (encoding == Wire.ENCODING_F16) {
            for (int i = 0; i < count; i++) {
                local[at + i] = HalfFloats.fromHalf(HalfFloats.toHalf(local[at + i]));
            }
        } else if (encoding == Wire.ENCODING_BF16) {
            for (int i = 0; i < count; i++) {
                local[at + i] = HalfFloats.fromBfloat16(HalfFloats.toBfloat16(local[at + i]));
            }
        }
        if (local != base) {
            UnsafeApi.copyMemory(localFloats, ElementLoops.FLOAT_ARRAY_BASE, base, target, (long) count * Float.BYTES);
        }
    }

    /** local[i] += frame[i] for {@code count} fp64 values, then divides by {@code divisor} unless 1. */
    void accumulateDoubles(Object frameBase, long source, Object base, long target, int count, double divisor) {
        UnsafeApi.copyMemory(frameBase, source, frameDoubles, ElementLoops.DOUBLE_ARRAY_BASE, (long) count * Double.BYTES);
        double[] local = base instanceof double[] array ? array : localDoubles;
        int at = local == base ? (int) ((target - ElementLoops.DOUBLE_ARRAY_BASE) >>> 3) : 0;
        if (local != base) {
            UnsafeApi.copyMemory(base, target, localDoubles, ElementLoops.DOUBLE_ARRAY_BASE, (long) count * Double.BYTES);
        }
        double[] frame = frameDoubles;
        for (int i = 0; i < count; i++) {
            local[at + i] += frame[i];
        }
        if (divisor != 1d) {
            for (int i = 0; i < count; i++) {
                local[at + i] /= divisor;
            }
        }
        if (local != base) {
            UnsafeApi.copyMemory(localDoubles, ElementLoops.DOUBLE_ARRAY_BASE, base, target, (long) count * Double.BYTES);
        }
    }

    private void decodeFloats(byte encoding, Object frameBase, long source, int count) {
        float[] frame = frameFloats;
        switch (encoding) {
            case Wire.ENCODING_F32 -> UnsafeApi.copyMemory(frameBase, source, frame, ElementLoops.FLOAT_ARRAY_BASE,
                    (long) count * Float.BYTES);
            case Wire.ENCODING_F16 -> {
                for (int i = 0; i < count; i++) {
                    frame[i] = HalfFloats.fromHalf(UnsafeApi.getShort(frameBase, source + 2L * i));
                }
            }
            case Wire.ENCODING_BF16 -> {
                for (int i = 0; i < count; i++) {
                    frame[i] = HalfFloats.fromBfloat16(UnsafeApi.getShort(frameBase, source + 2L * i));
                }
            }
            default -> throw new IllegalStateException("not a float encoding: " + Wire.encodingName(encoding));
        }
    }
}
