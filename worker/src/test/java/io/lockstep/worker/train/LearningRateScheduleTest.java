package io.lockstep.worker.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LearningRateScheduleTest {

    @Test
    void linearScalingMultipliesByReplicasAfterWarmup() {
        LearningRateSchedule s = new LearningRateSchedule(0.1, LearningRateSchedule.Scaling.LINEAR, 4, 2, 100);
        assertEquals(0.1, s.rateAt(0, 0), 1e-12, "warm-up starts at the single-replica rate");
        assertEquals(0.1 + 0.3 * 0.5, s.rateAt(1, 0), 1e-12, "half-way through warm-up");
        assertEquals(0.4, s.rateAt(2, 0), 1e-12, "target after warm-up");
        assertEquals(0.4, s.rateAt(9, 99), 1e-12);
        for (int step = 1; step < 200; step++) {
            assertTrue(s.rateAt(step / 100, step % 100) > s.rateAt((step - 1) / 100, (step - 1) % 100), "monotone during warm-up");
        }
    }

    @Test
    void noScalingKeepsTheBaseRate() {
        LearningRateSchedule s = new LearningRateSchedule(0.05, LearningRateSchedule.Scaling.NONE, 8, 0, 10);
        assertEquals(0.05, s.rateAt(0, 0), 0);
        assertEquals(0.05, s.rateAt(5, 3), 0);
    }

    @Test
    void cosineDecayFallsFromTheTargetToZeroAfterWarmup() {
        LearningRateSchedule s = new LearningRateSchedule(0.1, LearningRateSchedule.Scaling.LINEAR, 2, 1, 10,
                LearningRateSchedule.Decay.COSINE, 5);
        assertEquals(0.2, s.rateAt(1, 0), 1e-12, "warm-up ends at the scaled rate");
        assertEquals(0.1, s.rateAt(3, 0), 1e-12, "half-way through the decay: half the rate");
        assertTrue(s.rateAt(4, 9) < 0.002, "almost zero at the last step");
        for (int step = 11; step < 50; step++) {
            assertTrue(s.rateAt(step / 10, step % 10) < s.rateAt((step - 1) / 10, (step - 1) % 10), "monotone decay");
        }
    }

    @Test
    void rejectsNonsense() {
        assertThrows(IllegalArgumentException.class, () -> new LearningRateSchedule(0, LearningRateSchedule.Scaling.NONE, 1, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new LearningRateSchedule(0.1, LearningRateSchedule.Scaling.NONE, 0, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new LearningRateSchedule(0.1, LearningRateSchedule.Scaling.NONE, 1, -1, 1));
    }
}
