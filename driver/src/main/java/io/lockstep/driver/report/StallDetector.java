package io.lockstep.driver.report;

import io.lockstep.worker.train.StepTiming;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Finds steps that took more than {@code factor} times the running median step time and names the
 * replica that held the others back. A synchronous step lasts as long as its slowest replica: the
 * straggler shows as extra time in its own work (waiting for its data, or forward/backward), the others
 * as the same extra time waiting inside the collectives (gradient exchange or BatchNorm sync). So the
 * culprit is the rank whose own work exceeds the fastest rank's by the most; when no rank's own work
 * explains the step, every rank was slow in a collective and that collective is named. When the ranks
 * differ too little to explain the step (one replica, or a delay they all shared: a garbage collection
 * in a local-mode JVM, a busy host, a slow network), each phase is compared with its own running median instead.
 *
 * <p>Not thread-safe: the caller serializes access.
 */
public final class StallDetector {
    /** Steps the median is taken over, and how many are needed before judging. */
    static final int WINDOW = 101;
    static final int MIN_STEPS = 5;

    public enum Phase {
        DATA("data"), COMPUTE("forward/backward"), NORM_SYNC("BatchNorm sync"), EXCHANGE("exchange"),
        /**
         * Rank 0 writes a mid-epoch checkpoint between two steps, outside any step's timing: the next step
         * shows it only as the other ranks' wait in the collectives.
         */
        CHECKPOINT("writing the checkpoint before it");

        private final String label;

        Phase(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    /**
     * One stalled step.
     *
     * @param stepMs        the step's duration (slowest rank)
     * @param medianMs      the running median before it
     * @param phaseExcessMs how much longer the slow rank spent in {@code phase} than the fastest rank did, or,
     *                      when {@code slowAlike}, than that phase's running median
     * @param othersWaitedMs the longest time another rank spent waiting in the collectives beyond the slow rank's own
     * @param ranks         ranks in the step
     * @param slowAlike     the ranks differed too little to explain the step: every rank was slow in {@code phase}
     *                      ({@code rank} the most), measured against the phase's running median
     */
    public record Stall(int epoch, int step, double stepMs, double medianMs, int rank, String host, Phase phase,
                        double phaseExcessMs, double othersWaitedMs, int ranks, boolean slowAlike) {

        public String describe() {
            String head = String.format("stall at epoch %d, step %d: the step took %.0f ms, %.1fx the running median of "
                    + "%.0f ms; ", epoch + 1, step + 1, stepMs, stepMs / medianMs, medianMs);
            if (!slowAlike) {
                return head + String.format("rank %d on %s was slow in %s (+%.0f ms), the other ranks waited up to %.0f ms "
                        + "for it", rank, host, phase.label(), phaseExcessMs, othersWaitedMs);
            }
            if (ranks == 1) {
                return head + String.format("rank %d on %s was slow in %s (+%.0f ms over its running median)", rank, host,
                        phase.label(), phaseExcessMs);
            }
            return head + String.format("every rank was slow in %s, rank %d on %s the most (+%.0f ms over its running "
                    + "median), not one straggler", phase.label(), rank, host, phaseExcessMs);
        }

        public Map<String, Object> toRecord() {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("type", "stall");
            r.put("epoch", epoch + 1);
            r.put("step", step + 1);
            r.put("step_ms", stepMs);
            r.put("median_ms", medianMs);
            r.put("rank", rank);
            r.put("host", host);
            r.put("phase", phase.label());
            r.put("phase_excess_ms", phaseExcessMs);
            r.put("others_waited_ms", othersWaitedMs);
            r.put("slow_alike", slowAlike);
            r.put("message", describe());
            return r;
        }
    }

    private final double factor;
    private final int checkpointEverySteps;
    private final RunningMedian stepMedian = new RunningMedian();
    /** Per phase (data, compute, BatchNorm sync, exchange): the longest any rank spent in it, per step. */
    private final RunningMedian[] phaseMedians = {new RunningMedian(), new RunningMedian(), new RunningMedian(),
            new RunningMedian()};
    private final Map<Integer, List<Stall>> byEpoch = new TreeMap<>();

    /**
     * @param factor               a step longer than this multiple of the running median is a stall (> 1)
     * @param checkpointEverySteps the job's mid-epoch checkpoint interval in steps, 0 for none
     */
    public StallDetector(double factor, int checkpointEverySteps) {
        if (!(factor > 1)) {
            throw new IllegalArgumentException("stall factor must be > 1, got " + factor);
        }
        this.factor = factor;
        this.checkpointEverySteps = checkpointEverySteps;
    }

    /** Judges one complete step (one timing per rank, index = rank), then adds it to the median window. */
    public Optional<Stall> step(StepTiming[] ranks, String[] hosts) {
        double stepMs = 0;
        long[][] phases = new long[ranks.length][];
        long[] longest = new long[4];
        for (int r = 0; r < ranks.length; r++) {
            StepTiming t = ranks[r];
            stepMs = Math.max(stepMs, t.totalNanos() / 1e6);
            phases[r] = new long[]{t.dataWaitNanos(), t.computeNanos(), t.normSyncNanos(), t.exchangeNanos()};
            for (int i = 0; i < 4; i++) {
                longest[i] = Math.max(longest[i], phases[r][i]);
            }
        }
        Optional<Stall> stall = Optional.empty();
        if (stepMedian.size() >= MIN_STEPS) {
            double median = stepMedian.median();
            if (stepMs > factor * median) {
                stall = Optional.of(explain(ranks, phases, hosts, stepMs, median));
                byEpoch.computeIfAbsent(ranks[0].epoch(), e -> new ArrayList<>()).add(stall.get());
            }
        }
        stepMedian.add(stepMs);
        for (int i = 0; i < 4; i++) {
            phaseMedians[i].add(longest[i] / 1e6);
        }
        return stall;
    }

    private Stall explain(StepTiming[] ranks, long[][] phases, String[] hosts, double stepMs, double median) {
        long[] fastest = new long[4];
        Arrays.fill(fastest, Long.MAX_VALUE);
        for (long[] p : phases) {
            for (int i = 0; i < 4; i++) {
                fastest[i] = Math.min(fastest[i], p[i]);
            }
        }
        // An excess explains the stall when it accounts for at least half of the step's time over the median.
        double explainsMs = 0.5 * (stepMs - median);
        int rank = 0;
        int phase = 0;
        long excess = -1;
        // A rank's own work first: waiting in a collective is the effect of someone else's delay.
        for (int i : new int[]{0, 1, 2, 3}) {
            for (int r = 0; r < ranks.length; r++) {
                long e = phases[r][i] - fastest[i];
                if (e > excess) {
                    excess = e;
                    rank = r;
                    phase = i;
                }
            }
            if (i == 1 && excess / 1e6 >= explainsMs) {
                break;
            }
        }
        double excessMs = excess / 1e6;
        boolean slowAlike = excessMs < explainsMs;
        if (slowAlike) {
            // No rank differs enough from the others: the phase that grew most over its own median, on every rank.
            double most = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < 4; i++) {
                for (int r = 0; r < ranks.length; r++) {
                    double overMedian = phases[r][i] / 1e6 - phaseMedians[i].median();
                    if (overMedian > most) {
                        most = overMedian;
                        rank = r;
                        phase = i;
                    }
                }
            }
            excessMs = most;
        }
        int step = ranks[0].step();
        if (!slowAlike && phase >= 2 && checkpointEverySteps > 0 && step > 0 && step % checkpointEverySteps == 0) {
            // No rank's own work explains the step, and rank 0 wrote a checkpoint just before it.
            rank = 0;
            phase = Phase.CHECKPOINT.ordinal();
        }
        long culpritWaits = phases[rank][2] + phases[rank][3];
        long othersWaited = 0;
        for (int r = 0; r < ranks.length; r++) {
            if (r != rank) {
                othersWaited = Math.max(othersWaited, phases[r][2] + phases[r][3] - culpritWaits);
            }
        }
        return new Stall(ranks[0].epoch(), step, stepMs, median, rank, hosts[rank], Phase.values()[phase],
                excessMs, Math.max(0, othersWaited) / 1e6, ranks.length, slowAlike);
    }

    /** The median of the last {@link #WINDOW} values added. */
    private static final class RunningMedian {
        private final ArrayDeque<Double> recent = new ArrayDeque<>();

        void add(double value) {
            recent.addLast(value);
            if (recent.size() > WINDOW) {
                recent.removeFirst();
            }
        }

        int size() {
            return recent.size();
        }

        double median() {
            double[] sorted = recent.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            int n = sorted.length;
            return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        }
    }

    /** The stalls of one epoch (0-based), in the order found. */
    public List<Stall> stalls(int epoch) {
        return List.copyOf(byEpoch.getOrDefault(epoch, List.of()));
    }

    /** Per epoch with stalls: how many, by rank and by phase, and the worst one; for summary.json. */
    public List<Map<String, Object>> summary() {
        List<Map<String, Object>> epochs = new ArrayList<>();
        for (Map.Entry<Integer, List<Stall>> e : byEpoch.entrySet()) {
            Map<String, Integer> byRank = new TreeMap<>();
            Map<String, Integer> byPhase = new TreeMap<>();
            Stall worst = e.getValue().get(0);
            for (Stall s : e.getValue()) {
                byRank.merge(s.rank() + " (" + s.host() + ")", 1, Integer::sum);
                byPhase.merge(s.phase().label(), 1, Integer::sum);
                if (s.stepMs() > worst.stepMs()) {
                    worst = s;
                }
            }
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("epoch", e.getKey() + 1);
            m.put("stalls", e.getValue().size());
            m.put("by_rank", byRank);
            m.put("by_phase", byPhase);
            m.put("worst", worst.toRecord());
            epochs.add(m);
        }
        return epochs;
    }
}
