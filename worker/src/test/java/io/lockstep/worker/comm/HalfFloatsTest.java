package io.lockstep.worker.comm;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fp16 and bf16 conversions round to nearest, ties to even, over their whole ranges. */
class HalfFloatsTest {
    @Test
    void everyHalfValueRoundTripsExactly() {
        for (int bits = 0; bits < 1 << 16; bits++) {
            float value = HalfFloats.fromHalf(bits);
            if (Float.isNaN(value)) {
                assertTrue(Float.isNaN(HalfFloats.fromHalf(HalfFloats.toHalf(value))), "NaN stays NaN");
            } else {
                assertEquals(bits, HalfFloats.toHalf(value) & 0xffff, "half bits " + Integer.toHexString(bits));
            }
        }
    }

    @Test
    void halfDecodingMatchesTheFormatDefinition() {
        assertEquals(1f, HalfFloats.fromHalf(0x3c00));
        assertEquals(-2f, HalfFloats.fromHalf(0xc000));
        assertEquals(65504f, HalfFloats.fromHalf(0x7bff));
        assertEquals(0x1p-24f, HalfFloats.fromHalf(0x0001), "smallest subnormal");
        assertEquals(0x1p-14f, HalfFloats.fromHalf(0x0400), "smallest normal");
        assertEquals(Float.POSITIVE_INFINITY, HalfFloats.fromHalf(0x7c00));
        assertEquals(-0f, HalfFloats.fromHalf(0x8000));
    }

    @Test
    void halfEncodingPicksTheNearestHalfAndBreaksTiesToEven() {
        SplittableRandom random = new SplittableRandom(11);
        for (int i = 0; i < 300_000; i++) {
            // Uniform over fp32 bit patterns from below the smallest subnormal up to the overflow threshold 65520
            // (IEEE rounds 65520 and above to infinity, checked separately).
            float value = Float.intBitsToFloat(random.nextInt(0x3300_0000, 0x477F_F000)) * (random.nextBoolean() ? 1 : -1);
            int bits = HalfFloats.toHalf(value) & 0xffff;
            float chosen = HalfFloats.fromHalf(bits);
            double error = Math.abs((double) chosen - value);
            for (int neighbour : new int[]{bits - 1, bits + 1}) {
                if ((neighbour & 0x7fff) > 0x7bff || neighbour < 0 || neighbour > 0xffff
                        || (neighbour & 0x8000) != (bits & 0x8000)) {
                    continue;
                }
                double other = Math.abs((double) HalfFloats.fromHalf(neighbour) - value);
                assertTrue(error < other || error == other && (bits & 1) == 0,
                        value + " encoded as " + chosen + " but " + HalfFloats.fromHalf(neighbour) + " is nearer or an "
                                + "even tie");
            }
        }
    }

    @Test
    void halfEncodingHandlesOverflowUnderflowAndTies() {
        assertEquals(0x7bff, HalfFloats.toHalf(65519f) & 0xffff, "below the overflow threshold rounds to max");
        assertEquals(0x7c00, HalfFloats.toHalf(65520f) & 0xffff, "halfway to 2^16 rounds to infinity");
        assertEquals(0x7c00, HalfFloats.toHalf(1e10f) & 0xffff);
        assertEquals(0x0000, HalfFloats.toHalf(0x1p-25f) & 0xffff, "tie between 0 and the smallest subnormal: even");
        assertEquals(0x0001, HalfFloats.toHalf(Math.nextUp(0x1p-25f)) & 0xffff);
        assertEquals(0x3c00, HalfFloats.toHalf(1f + 0x1p-11f) & 0xffff, "tie at 1 + half an ulp: even (down)");
        assertEquals(0x3c02, HalfFloats.toHalf(1f + 3 * 0x1p-11f) & 0xffff, "tie at 1 + 1.5 ulp: even (up)");
        assertTrue(Float.isNaN(HalfFloats.fromHalf(HalfFloats.toHalf(Float.NaN))));
    }

    @Test
    void bfloat16RoundsToNearestEvenAndKeepsTheFullRange() {
        SplittableRandom random = new SplittableRandom(12);
        for (int i = 0; i < 300_000; i++) {
            float value = Float.intBitsToFloat(random.nextInt(0x0080_0000, 0x7f00_0000)) * (random.nextBoolean() ? 1 : -1);
            int bits = HalfFloats.toBfloat16(value) & 0xffff;
            float chosen = HalfFloats.fromBfloat16(bits);
            double error = Math.abs((double) chosen - value);
            double ulp = Math.ulp(chosen) * (1 << 16);
            assertTrue(error <= ulp / 2, value + " encoded as " + chosen);
            if (error == ulp / 2) {
                assertEquals(0, bits & 1, "ties go to even");
            }
        }
        assertEquals(3.0e38f, HalfFloats.fromBfloat16(HalfFloats.toBfloat16(3.0e38f)), 1e36f);
        assertTrue(Float.isNaN(HalfFloats.fromBfloat16(HalfFloats.toBfloat16(Float.NaN))));
        assertEquals(Float.NEGATIVE_INFINITY, HalfFloats.fromBfloat16(HalfFloats.toBfloat16(Float.NEGATIVE_INFINITY)));
    }
}
