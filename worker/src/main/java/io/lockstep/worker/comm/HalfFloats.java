package io.lockstep.worker.comm;

/**
 * Conversions between fp32 and the two 16-bit wire formats, rounding to nearest, ties to even
 * (what IEEE 754 and every accelerator do). Java 17 has no {@code Float.floatToFloat16}.
 *
 * <p>Stateless; the decoding table is immutable and shared.
 */
final class HalfFloats {
    /** fp16 bit pattern to fp32, all 65536 of them: decoding is a table look-up in the hot loop. */
    private static final float[] HALF_TO_FLOAT = new float[1 << 16];

    static {
        for (int bits = 0; bits < HALF_TO_FLOAT.length; bits++) {
            HALF_TO_FLOAT[bits] = decodeHalf(bits);
        }
    }

    private HalfFloats() {
    }

    /** fp32 to IEEE binary16 bits; overflow gives infinity, NaN stays NaN. */
    static short toHalf(float value) {
        int bits = Float.floatToRawIntBits(value);
        int sign = (bits >>> 16) & 0x8000;
        int exponent = (bits >>> 23) & 0xff;
        int mantissa = bits & 0x7f_ffff;
        if (exponent == 0xff) {
            return (short) (sign | 0x7c00 | (mantissa != 0 ? 0x200 | (mantissa >>> 13) : 0));
        }
        int halfExponent = exponent - 127 + 15;
        if (halfExponent >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (halfExponent <= 0) {
            if (halfExponent < -10) {
                return (short) sign;
            }
            // Subnormal result: the value in units of 2^-24, with the implicit leading one restored.
            int significand = mantissa | 0x80_0000;
            int shift = 14 - halfExponent;
            int half = significand >>> shift;
            int remainder = significand & ((1 << shift) - 1);
            int halfway = 1 << (shift - 1);
            if (remainder > halfway || (remainder == halfway && (half & 1) != 0)) {
                half++;
            }
            return (short) (sign | half);
        }
        int half = (halfExponent << 10) | (mantissa >>> 13);
        int remainder = mantissa & 0x1fff;
        if (remainder > 0x1000 || (remainder == 0x1000 && (half & 1) != 0)) {
            half++; // a carry into the exponent is right, up to and including infinity
        }
        return (short) (sign | half);
    }

    /** IEEE binary16 bits (low 16 bits of the argument) to fp32, exactly. */
    static float fromHalf(int halfBits) {
        return HALF_TO_FLOAT[halfBits & 0xffff];
    }

    /** fp32 to bfloat16 bits; NaN stays a (quiet) NaN. */
    static short toBfloat16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if ((bits & 0x7fff_ffff) > 0x7f80_0000) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounded = bits + 0x7fff + ((bits >>> 16) & 1);
        return (short) (rounded >>> 16);
    }

    /** bfloat16 bits (low 16 bits of the argument) to fp32, exactly. */
    static float fromBfloat16(int bfloatBits) {
        return Float.intBitsToFloat((bfloatBits & 0xffff) << 16);
    }

    private static float decodeHalf(int bits) {
        int sign = (bits & 0x8000) << 16;
        int exponent = (bits >>> 10) & 0x1f;
        int mantissa = bits & 0x3ff;
        if (exponent == 0) {
            float magnitude = mantissa * 0x1p-24f;
            return sign != 0 ? -magnitude : magnitude;
        }
        if (exponent == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f80_0000 | (mantissa << 13));
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }
}
