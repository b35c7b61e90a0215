package io.lockstep.driver.report;

import io.lockstep.worker.train.StepTiming;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which rank and phase a stalled step is blamed on, from the per-rank timings alone. */
class StallDetectorTest {
    private static final String[] HOSTS = {"host-a", "host-b", "host-c"};

    /** Milliseconds per phase: data wait, compute, BatchNorm sync, exchange. */
    private static StepTiming timing(int rank, int step, double data, double compute, double norm, double exchange) {
        return new StepTiming(rank, 0, step, 100, 1.0, 32, ms(data), ms(compute), ms(norm), ms(exchange), 0, Map.of());
    }

    private static long ms(double millis) {
        return (long) (millis * 1e6);
    }

    private static StallDetector warmedUp(int steps) {
        return warmedUp(steps, 0);
    }

    private static StallDetector warmedUp(int steps, int checkpointEverySteps) {
        StallDetector detector = new StallDetector(3, checkpointEverySteps);
        for (int s = 0; s < steps; s++) {
            StepTiming[] normal = {timing(0, s, 1, 90, 5, 4), timing(1, s, 1, 92, 3, 4), timing(2, s, 1, 88, 7, 4)};
            assertTrue(detector.step(normal, HOSTS).isEmpty(), "a normal step is no stall");
        }
        return detector;
    }

    @Test
    void aRankSlowInForwardBackwardIsBlamedAndTheOthersWaitInTheCollectives() {
        StallDetector detector = warmedUp(10);
        StepTiming[] step = {timing(0, 10, 1, 90, 5, 904), timing(1, 10, 1, 990, 3, 4), timing(2, 10, 1, 88, 600, 310)};
        StallDetector.Stall stall = detector.step(step, HOSTS).orElseThrow();
        assertEquals(1, stall.rank());
        assertEquals("host-b", stall.host());
        assertEquals(StallDetector.Phase.COMPUTE, stall.phase());
        assertEquals(902, stall.phaseExcessMs(), 1);
        assertEquals(902, stall.othersWaitedMs(), 1, "rank 0 waited 909 ms in collectives against rank 1's 7");
        assertFalse(stall.slowAlike(), "one rank explains the step");
        assertEquals(1, detector.summary().size());
    }

    @Test
    void aRankWaitingForItsDataIsBlamedOnData() {
        StallDetector detector = warmedUp(10);
        StepTiming[] step = {timing(0, 10, 1, 90, 5, 704), timing(1, 10, 1, 92, 3, 704), timing(2, 10, 700, 88, 7, 4)};
        StallDetector.Stall stall = detector.step(step, HOSTS).orElseThrow();
        assertEquals(2, stall.rank());
        assertEquals(StallDetector.Phase.DATA, stall.phase());
        assertTrue(stall.describe().contains("rank 2 on host-c was slow in data"), stall.describe());
    }

    @Test
    void whenEveryRankIsSlowInTheExchangeTheExchangeIsNamed() {
        StallDetector detector = warmedUp(10);
        StepTiming[] step = {timing(0, 10, 1, 90, 5, 900), timing(1, 10, 1, 92, 3, 1000), timing(2, 10, 1, 88, 7, 950)};
        StallDetector.Stall stall = detector.step(step, HOSTS).orElseThrow();
        assertEquals(StallDetector.Phase.EXCHANGE, stall.phase());
        assertEquals(1, stall.rank(), "the rank with the longest exchange");
    }

    @Test
    void aStepAfterAMidEpochCheckpointThatTheOthersWaitedInIsBlamedOnRankZerosWrite() {
        // Rank 0 wrote a checkpoint after 10 steps (outside any step's timing); ranks 1 and 2 wait for it in
        // step 10's exchange.
        StepTiming[] afterCheckpoint = {timing(0, 10, 1, 90, 5, 4), timing(1, 10, 1, 92, 3, 904),
                timing(2, 10, 1, 88, 7, 900)};
        StallDetector.Stall stall = warmedUp(10, 5).step(afterCheckpoint, HOSTS).orElseThrow();
        assertEquals(0, stall.rank());
        assertEquals(StallDetector.Phase.CHECKPOINT, stall.phase());
        assertEquals(898, stall.othersWaitedMs(), 1, "rank 1 waited 907 ms in collectives against rank 0's 9");
        assertTrue(stall.describe().contains("rank 0 on host-a was slow in writing the checkpoint before it"),
                stall.describe());

        // The same step without a checkpoint before it (every 4 steps: after steps 4 and 8, not 10) names the
        // exchange; and a rank's own slow work after a checkpoint is still its own.
        assertEquals(StallDetector.Phase.EXCHANGE, warmedUp(10, 4).step(afterCheckpoint, HOSTS).orElseThrow().phase());
        StepTiming[] slowCompute = {timing(0, 10, 1, 90, 5, 904), timing(1, 10, 1, 990, 3, 4),
                timing(2, 10, 1, 88, 600, 310)};
        StallDetector.Stall own = warmedUp(10, 5).step(slowCompute, HOSTS).orElseThrow();
        assertEquals(StallDetector.Phase.COMPUTE, own.phase());
        assertEquals(1, own.rank());
    }

    @Test
    void aSingleReplicaIsJudgedAgainstItsOwnPhaseMedians() {
        StallDetector detector = new StallDetector(3, 0);
        String[] host = {"host-a"};
        for (int s = 0; s < 10; s++) {
            assertTrue(detector.step(new StepTiming[]{timing(0, s, 2, 45, 0, 0)}, host).isEmpty());
        }
        StallDetector.Stall stall = detector.step(new StepTiming[]{timing(0, 10, 3, 190, 0, 0)}, host).orElseThrow();
        assertEquals(StallDetector.Phase.COMPUTE, stall.phase());
        assertEquals(145, stall.phaseExcessMs(), 1, "190 ms of forward/backward against its median of 45");
        assertTrue(stall.slowAlike());
        assertTrue(stall.describe().endsWith("rank 0 on host-a was slow in forward/backward (+145 ms over its running "
                + "median)"), stall.describe());

        StallDetector.Stall data = detector.step(new StepTiming[]{timing(0, 11, 400, 46, 0, 0)}, host).orElseThrow();
        assertEquals(StallDetector.Phase.DATA, data.phase());
        assertEquals(398, data.phaseExcessMs(), 1);
    }

    @Test
    void ranksSlowAlikeInTheirOwnWorkAreNotBlamedOnOneStraggler() {
        // Every rank's forward/backward took 880-900 ms more than usual (a pause they shared): the ranks differ by
        // 20 ms, far too little to explain a step 890 ms over the median.
        StepTiming[] step = {timing(0, 10, 1, 970, 5, 4), timing(1, 10, 1, 990, 3, 4), timing(2, 10, 1, 975, 7, 4)};
        StallDetector.Stall stall = warmedUp(10).step(step, HOSTS).orElseThrow();
        assertTrue(stall.slowAlike());
        assertEquals(StallDetector.Phase.COMPUTE, stall.phase());
        assertEquals(1, stall.rank(), "the slowest of them");
        assertEquals(898, stall.phaseExcessMs(), 1, "990 ms against the median of the slowest rank's 92");
        assertTrue(stall.describe().contains("every rank was slow in forward/backward, rank 1 on host-b the most "
                + "(+898 ms over its running median)"), stall.describe());
    }

    @Test
    void noJudgementBeforeAMedianExists() {
        StallDetector detector = warmedUp(StallDetector.MIN_STEPS - 1);
        StepTiming[] slow = {timing(0, 4, 1, 5000, 5, 4), timing(1, 4, 1, 92, 3, 4900), timing(2, 4, 1, 88, 7, 4900)};
        Optional<StallDetector.Stall> stall = detector.step(slow, HOSTS);
        assertTrue(stall.isEmpty(), "the first steps (JIT warm-up, caches) set the median, they are not judged");
    }
}
