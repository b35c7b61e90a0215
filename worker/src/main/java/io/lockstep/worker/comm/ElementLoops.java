package io.lockstep.worker.comm;

import org.agrona.UnsafeApi;

/**
 * The per-element loops of the hot path: encode local values into a frame, accumulate or copy a
 * frame's values into local memory. Memory is addressed as (base object, offset) pairs so one loop
 * serves heap arrays ({@code base} = the array) and off-heap buffers ({@code base} = null, offset =
 * address). Callers guarantee bounds; nothing here allocates.
 */
final class ElementLoops {
    static final long FLOAT_ARRAY_BASE = UnsafeApi.arrayBaseOffset(float[].class);
    static final long DOUBLE_ARRAY_BASE = UnsafeApi.arrayBaseOffset(double[].class);
    static final long BYTE_ARRAY_BASE = UnsafeApi.arrayBaseOffset(byte[].class);

    private ElementLoops() {
    }

    /** Writes {@code count} local fp32 values into the frame as {@code encoding}. */
    static void encodeFloats(byte encoding, Object base, long source, Object frameBase, long target, int count) {
        switch (encoding) {
            case Wire.ENCODING_F32 -> UnsafeApi.copyMemory(base, source, frameBase, target, (long) count * Float.BYTES);
            case Wire.ENCODING_F16 -> {
                for (int i = 0; i < count; i++) {
                    UnsafeApi.putShort(frameBase, target + 2L * i,
                            HalfFloats.toHalf(UnsafeApi.getFloat(base, source + 4L * i)));
                }
            }
            case Wire.ENCODING_BF16 -> {
                for (int i = 0; i < count; i++) {
                    UnsafeApi.putShort(frameBase, target + 2L * i,
                            HalfFloats.toBfloat16(UnsafeApi.getFloat(base, source + 4L * i)));
                }
            }
            default -> throw new IllegalStateException("not a float encoding: " + Wire.encodingName(encoding));
        }
    }

    /** local[i] += frame[i] for {@code count} fp32 values encoded as {@code encoding}. */
    static void accumulateFloats(byte encoding, Object frameBase, long source, Object base, long target, int count) {
        switch (encoding) {
            case Wire.ENCODING_F32 -> {
                for (int i = 0; i < count; i++) {
                    long at = target + 4L * i;
                    UnsafeApi.putFloat(base, at,
                            UnsafeApi.getFloat(base, at) + UnsafeApi.getFloat(frameBase, source + 4L * i));
                }
            }
            case Wire.ENCODING_F16 -> {
                for (int i = 0; i < count; i++) {
                    long at = target + 4L * i;
                    UnsafeApi.putFloat(base, at, UnsafeApi.getFloat(base, at)
                            + HalfFloats.fromHalf(UnsafeApi.getShort(frameBase, source + 2L * i)));
                }
            }
            case Wire.ENCODING_BF16 -> {
                for (int i = 0; i < count; i++) {
                    long at = target + 4L * i;
                    UnsafeApi.putFloat(base, at, UnsafeApi.getFloat(base, at)
                            + HalfFloats.fromBfloat16(UnsafeApi.getShort(frameBase, source + 2L * i)));
                }
            }
            default -> throw new IllegalStateException("not a float encoding: " + Wire.encodingName(encoding));
        }
    }

    /** local[i] = frame[i] for {@code count} fp32 values encoded as {@code encoding}. */
    static void copyFloats(byte encoding, Object frameBase, long source, Object base, long target, int count) {
        switch (encoding) {
            case Wire.ENCODING_F32 -> UnsafeApi.copyMemory(frameBase, source, base, target, (long) count * Float.BYTES);
            case Wire.ENCODING_F16 -> {
                for (int i = 0; i < count; i++) {
                    UnsafeApi.putFloat(base, target + 4L * i,
                            HalfFloats.fromHalf(UnsafeApi.getShort(frameBase, source + 2L * i)));
                }
            }
            case Wire.ENCODING_BF16 -> {
                for (int i = 0; i < count; i++) {
                    UnsafeApi.putFloat(base, target + 4L * i,
                            HalfFloats.fromBfloat16(UnsafeApi.getShort(frameBase, source + 2L * i)));
                }
            }
            default -> throw new IllegalStateException("not a float encoding: " + Wire.encodingName(encoding));
        }
    }

    /**
     * Finishes a fully reduced span of fp32 values: divides by {@code divisor} (when not 1) and rounds
     * to the wire precision, so the owner keeps exactly the values every other rank will decode.
     */
    static void finishFloats(byte encoding, Object base, long at, int count, float divisor) {
        if (divisor != 1f) {
            for (int i = 0; i < count; i++) {
                long address = at + 4L * i;
                UnsafeApi.putFloat(base, address, UnsafeApi.getFloat(base, address) / divisor);
            }
        }
        if (encoding == Wire.ENCODING_F16) {
            for (int i = 0; i < count; i++) {
                long address = at + 4L * i;
                UnsafeApi.putFloat(base, address,
                        HalfFloats.fromHalf(HalfFloats.toHalf(UnsafeApi.getFloat(base, address))));
            }
        } else if (encoding == Wire.ENCODING_BF16) {
            for (int i = 0; i < count; i++) {
                long address = at + 4L * i;
                UnsafeApi.putFloat(base, address,
                        HalfFloats.fromBfloat16(HalfFloats.toBfloat16(UnsafeApi.getFloat(base, address))));
            }
        }
    }

    /** local[i] += frame[i] for {@code count} fp64 values. */
    static void accumulateDoubles(Object frameBase, long source, Object base, long target, int count) {
        for (int i = 0; i < count; i++) {
            long at = target + 8L * i;
            UnsafeApi.putDouble(base, at, UnsafeApi.getDouble(base, at) + UnsafeApi.getDouble(frameBase, source + 8L * i));
        }
    }

    /** Divides {@code count} fp64 values by {@code divisor}. */
    static void divideDoubles(Object base, long at, int count, double divisor) {
        for (int i = 0; i < count; i++) {
            long address = at + 8L * i;
            UnsafeApi.putDouble(base, address, UnsafeApi.getDouble(base, address) / divisor);
        }
    }

    static void copyBytes(Object sourceBase, long source, Object targetBase, long target, long bytes) {
        UnsafeApi.copyMemory(sourceBase, source, targetBase, target, bytes);
    }
}
