package io.lockstep.worker.comm;

import org.agrona.UnsafeApi;

/**
 * The per-element loops of the hot path that move values between local memory and frames (the
 * arithmetic is in {@link Reducer}). Memory is addressed as (base object, offset) pairs so one loop
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

    static void copyBytes(Object sourceBase, long source, Object targetBase, long target, long bytes) {
        UnsafeApi.copyMemory(sourceBase, source, targetBase, target, bytes);
    }
}
