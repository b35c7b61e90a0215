package io.lockstep.worker.exchange;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.management.ManagementFactory;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ThresholdCodecTest {
    private static final float[] NO_DENSE = new float[0];

    private static float[] gaussian(int length, double scale, long seed) {
        Random random = new Random(seed);
        float[] values = new float[length];
        for (int i = 0; i < length; i++) {
            values[i] = (float) (random.nextGaussian() * scale);
        }
        return values;
    }

    /** Encodes gradient + residual at τ, decodes, and checks every entry and the residual exactly. */
    private static byte[] roundTrip(float[] residual, float[] gradient, float tau) {
        int length = gradient.length;
        float[] v = new float[length];
        for (int i = 0; i < length; i++) {
            v[i] = residual[i] + gradient[i];
        }
        int count = ThresholdCodec.mergeAndCount(residual, gradient, length, tau, DenseRanges.NONE, NO_DENSE);
        byte[] message = new byte[ThresholdCodec.messageBytes(length, count, 0)];
        ThresholdCodec.encode(residual, length, tau, count, NO_DENSE, 0, message);
        float[] decoded = new float[length];
        assertEquals(count, ThresholdCodec.decodeAdd(message, 0, length, DenseRanges.NONE, decoded));

        int sent = 0;
        for (int i = 0; i < length; i++) {
            boolean shouldSend = Math.abs(v[i]) >= tau;
            if (shouldSend) {
                sent++;
                assertEquals(v[i] > 0 ? tau : -tau, decoded[i], "entry " + i + " is sent as sign(v)·τ");
            } else {
                assertEquals(0f, decoded[i], "entry " + i + " below τ is not sent");
            }
            // Exactly what was not sent stays behind: v − decoded, bit for bit.
            assertEquals(Float.floatToIntBits(v[i] - decoded[i]), Float.floatToIntBits(residual[i]), "residual " + i);
        }
        assertEquals(sent, count);
        assertEquals(tau, ThresholdCodec.threshold(message));
        assertEquals(length, ThresholdCodec.length(message));
        return message;
    }

    @Test
    void sparseRoundTripIsExactForSentEntriesAndResidualKeepsTheRest() {
        int length = 10_000;
        float[] residual = gaussian(length, 0.01, 1);
        float[] gradient = gaussian(length, 0.01, 2);
        byte[] message = roundTrip(residual, gradient, 0.04f);
        assertEquals(ThresholdCodec.SPARSE, ThresholdCodec.format(message));
        int count = ThresholdCodec.count(message);
        assertTrue(count > 0 && count < length / 16, "a sparse case: " + count + " of " + length);
        assertEquals(ThresholdCodec.HEADER_BYTES + 4 * count, message.length);

        // A second round continues from the residual left by the first.
        roundTrip(residual, gaussian(length, 0.01, 3), 0.04f);
    }

    @Test
    void bitmapRoundTripIsExactForSentEntriesAndResidualKeepsTheRest() {
        int length = 10_001; // not a multiple of 4: the last bitmap byte is partial
        float[] residual = new float[length];
        float[] gradient = gaussian(length, 1.0, 4);
        byte[] message = roundTrip(residual, gradient, 0.5f);
        assertEquals(ThresholdCodec.BITMAP, ThresholdCodec.format(message));
        assertTrue(ThresholdCodec.count(message) > length / 16);
        assertEquals(ThresholdCodec.HEADER_BYTES + (length + 3) / 4, message.length);
    }

    @ParameterizedTest(name = "{0} entries, {1} sent: bitmap={2}")
    @CsvSource({
            "64, 4, false",  // sparse 16 bytes = bitmap 16 bytes: the tie goes to the sparse form
            "64, 5, true",   // sparse 20 > 16
            "66, 4, false",  // bitmap ⌈66/4⌉ = 17 bytes
            "66, 5, true",
            "3, 0, false",
            "3, 1, true"})   // sparse 4 bytes > bitmap 1 byte
    void sparseIsChosenUnlessLargerThanTheBitmap(int length, int sent, boolean bitmap) {
        float[] gradient = new float[length];
        java.util.Arrays.fill(gradient, 0.25f);
        for (int k = 0; k < sent; k++) {
            int index = length - 1 - k * (length / Math.max(sent, 1)); // includes the last entry (partial byte)
            gradient[index] = k % 2 == 0 ? 1f : -1f;
        }
        byte[] message = roundTrip(new float[length], gradient, 0.5f);
        assertEquals(sent, ThresholdCodec.count(message));
        assertEquals(bitmap, ThresholdCodec.usesBitmap(length, sent));
        assertEquals(bitmap ? ThresholdCodec.BITMAP : ThresholdCodec.SPARSE, ThresholdCodec.format(message));
        int body = bitmap ? (length + 3) / 4 : 4 * sent;
        assertEquals(ThresholdCodec.HEADER_BYTES + body, message.length);
    }

    @Test
    void denseRangesTravelExactlyAndLeaveNoResidual() {
        int length = 1_000;
        DenseRanges ranges = DenseRanges.of(10, 5, 500, 3, 997, 3);
        float[] residual = gaussian(length, 0.1, 8);
        float[] gradient = gaussian(length, 0.1, 9);
        float[] v = new float[length];
        for (int i = 0; i < length; i++) {
            v[i] = residual[i] + gradient[i];
        }
        float[] dense = new float[ranges.total()];
        float tau = 0.3f;
        int count = ThresholdCodec.mergeAndCount(residual, gradient, length, tau, ranges, dense);
        byte[] message = new byte[ThresholdCodec.messageBytes(length, count, ranges.total())];
        ThresholdCodec.encode(residual, length, tau, count, dense, ranges.total(), message);
        float[] decoded = new float[length];
        assertEquals(count, ThresholdCodec.decodeAdd(message, 0, length, ranges, decoded));
        assertEquals(ThresholdCodec.HEADER_BYTES + 4 * ranges.total() + 4 * count, message.length);
        int sent = 0;
        for (int i = 0; i < length; i++) {
            boolean inDense = (i >= 10 && i < 15) || (i >= 500 && i < 503) || i >= 997;
            if (inDense) {
                assertEquals(v[i], decoded[i], "dense entry " + i + " is sent exactly, even below τ");
                assertEquals(0f, residual[i], "dense entry " + i + " keeps no residual");
            } else {
                boolean shouldSend = Math.abs(v[i]) >= tau;
                sent += shouldSend ? 1 : 0;
                assertEquals(shouldSend ? Math.copySign(tau, v[i]) : 0f, decoded[i], "entry " + i);
                assertEquals(v[i] - decoded[i], residual[i], "residual " + i);
            }
        }
        assertEquals(sent, count);
        IllegalStateException otherLayout = assertThrows(IllegalStateException.class,
                () -> ThresholdCodec.decodeAdd(message, 3, length, DenseRanges.NONE, new float[length]));
        assertTrue(otherLayout.getMessage().contains("rank 3"), otherLayout.getMessage());
    }

    @Test
    void malformedMessagesAreRejectedNamingTheSender() {
        float[] residual = new float[100];
        float[] gradient = gaussian(100, 1.0, 5);
        int count = ThresholdCodec.mergeAndCount(residual, gradient, 100, 2.5f, DenseRanges.NONE, NO_DENSE);
        byte[] message = new byte[ThresholdCodec.messageBytes(100, count, 0)];
        ThresholdCodec.encode(residual, 100, 2.5f, count, NO_DENSE, 0, message);

        IllegalStateException otherModel = assertThrows(IllegalStateException.class,
                () -> ThresholdCodec.decodeAdd(message, 1, 101, DenseRanges.NONE, new float[101]));
        assertTrue(otherModel.getMessage().contains("rank 1"), otherModel.getMessage());
        assertTrue(otherModel.getMessage().contains("101"), otherModel.getMessage());

        byte[] truncated = java.util.Arrays.copyOf(message, message.length - 1);
        assertThrows(IllegalStateException.class, () -> ThresholdCodec.decodeAdd(truncated, 2, 100, DenseRanges.NONE, new float[100]));
    }

    @Test
    void nonFiniteGradientIsReported() {
        float[] gradient = new float[10];
        gradient[3] = Float.NaN;
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> ThresholdCodec.mergeAndCount(new float[10], gradient, 10, 1f, DenseRanges.NONE, NO_DENSE));
        assertTrue(e.getMessage().contains("index 3"), e.getMessage());
    }

    @Test
    void steadyStateEncodeDecodeAndThresholdSearchAllocateNothing() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        assertTrue(threads.isThreadAllocatedMemorySupported() && threads.isThreadAllocatedMemoryEnabled(),
                "this JVM must measure per-thread allocation");
        int length = 50_000;
        float[] small = gaussian(length, 0.01, 6);
        float[] large = gaussian(length, 1.0, 7);
        float[] residual = new float[length];
        float[] decoded = new float[length];
        ThresholdController controller = new ThresholdController(1e-3, 1e-3, 1e-2);
        // The gradient scale alternates by 100x so every call searches for a new τ; the residual is reset
        // each call. Message buffers come from a pool by size, filled during warm-up.
        byte[][] messages = new byte[ThresholdCodec.messageBytes(length, length, 0) + 1][];
        runIterations(0, 2_000, small, large, residual, decoded, controller, messages);
        long before = threads.getCurrentThreadAllocatedBytes();
        runIterations(2_000, 1_000, small, large, residual, decoded, controller, messages);
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertTrue(allocated < 1024, "1000 steady-state steps allocated " + allocated + " bytes");
        assertTrue(controller.lastPasses() > 0, "the measured steps searched for τ");
    }

    private static void runIterations(int first, int iterations, float[] small, float[] large, float[] residual, float[] decoded,
                                      ThresholdController controller, byte[][] messages) {
        int length = small.length;
        for (int i = 0; i < iterations; i++) {
            float[] gradient = ((first + i) & 1) == 0 ? small : large;
            java.util.Arrays.fill(residual, 0f);
            int count = ThresholdCodec.mergeAndCount(residual, gradient, length, controller.threshold(), DenseRanges.NONE, NO_DENSE);
            count = controller.choose(residual, length, count);
            int bytes = ThresholdCodec.messageBytes(length, count, 0);
            if (messages[bytes] == null) {
                messages[bytes] = new byte[bytes];
            }
            ThresholdCodec.encode(residual, length, controller.threshold(), count, NO_DENSE, 0, messages[bytes]);
            java.util.Arrays.fill(decoded, 0f);
            ThresholdCodec.decodeAdd(messages[bytes], 0, length, DenseRanges.NONE, decoded);
        }
    }
}
