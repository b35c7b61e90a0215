package io.lockstep.worker.exchange;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ThresholdControllerTest {
    private static final double MIN = 1e-3;
    private static final double MAX = 1e-2;

    private static float[] heavyTailed(int length, long seed) {
        Random random = new Random(seed);
        float[] values = new float[length];
        for (int i = 0; i < length; i++) {
            // Gradients are heavy-tailed: a Gaussian times a log-uniform scale over 4 decades.
            values[i] = (float) (random.nextGaussian() * Math.pow(10, -4 * random.nextDouble()));
        }
        return values;
    }

    @ParameterizedTest(name = "initial τ {0}")
    @ValueSource(doubles = {1e-30, 1e-9, 1e-3, 1.0, 1e9})
    void oneSearchBringsTheSentFractionIntoRangeFromAnyStart(double initial) {
        int length = 100_000;
        float[] v = heavyTailed(length, 11);
        ThresholdController controller = new ThresholdController(initial, MIN, MAX);
        int count = controller.choose(v, length, ThresholdCodec.count(v, length, (float) initial));
        assertEquals(ThresholdCodec.count(v, length, controller.threshold()), count, "returned count matches τ");
        double fraction = (double) count / length;
        assertTrue(fraction >= MIN && fraction <= MAX, "fraction " + fraction + " at τ " + controller.threshold());
        assertTrue(controller.lastPasses() <= ThresholdController.MAX_PASSES);
    }

    @Test
    void thresholdStaysWhileTheFractionIsInRange() {
        int length = 100_000;
        float[] v = heavyTailed(length, 12);
        ThresholdController controller = new ThresholdController(1.0, MIN, MAX);
        controller.choose(v, length, ThresholdCodec.count(v, length, 1f));
        float chosen = controller.threshold();
        float[] similar = heavyTailed(length, 13);
        int count = controller.choose(similar, length, ThresholdCodec.count(similar, length, chosen));
        assertTrue(count >= MIN * length && count <= MAX * length);
        assertEquals(chosen, controller.threshold(), "in range: τ unchanged");
        assertEquals(0, controller.lastPasses());
    }

    @Test
    void fullRangeKeepsTheThresholdFixed() {
        int length = 1_000;
        float[] v = heavyTailed(length, 14);
        ThresholdController controller = new ThresholdController(1e-6, 0, 1);
        int count = controller.choose(v, length, ThresholdCodec.count(v, length, 1e-6f));
        assertEquals(1e-6f, controller.threshold());
        assertEquals(ThresholdCodec.count(v, length, 1e-6f), count);
    }

    @Test
    void unreachableRangeEndsWithinThePassBoundAndSendsWhatExists() {
        int length = 100_000;
        float[] v = new float[length];
        for (int i = 0; i < 5; i++) {
            v[i * 1000] = 0.5f; // 5 non-zero entries: the minimum of 100 cannot be met
        }
        ThresholdController controller = new ThresholdController(1.0, MIN, MAX);
        int count = controller.choose(v, length, 0);
        assertTrue(controller.lastPasses() <= ThresholdController.MAX_PASSES);
        assertEquals(5, count, "every non-zero entry is sent at τ " + controller.threshold());
        assertTrue(controller.threshold() > 0);
    }
}
