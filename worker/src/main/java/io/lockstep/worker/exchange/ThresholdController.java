package io.lockstep.worker.exchange;

/**
 * Keeps the fraction of entries a replica sends inside {@code [minSentFraction, maxSentFraction]}
 * by choosing τ from the very vector about to be encoded, so the range holds from the first step
 * whatever the scale of the gradients (DL4J's gradients are summed over the minibatch, so their scale
 * moves with the batch size, the loss and the model).
 *
 * <p>τ only moves when the current τ would send a fraction outside the range (hysteresis: a steady τ
 * lets the residuals accumulate as the Strom scheme intends). It then searches, by counting passes over
 * the vector, for a τ whose fraction lies in the middle half of the range in log space: galloping
 * (starting with the factor of the previous change, at most ×4, squared on every further step) until
 * the target is bracketed, then geometric bisection. If the target cannot be
 * reached within {@link #MAX_PASSES} passes (ties, e.g. a vector that is mostly zeros) the last τ is kept
 * and that step's fraction falls outside the range; it is reported, never hidden.
 *
 * <p>Dynamics to expect: with error feedback the unsent entries pile up just below τ, so at an unchanged τ
 * the next step's count collapses to the rate of new crossings. While that rate is below the range, each
 * step lowers τ a few percent, releasing part of the pile (measured on lenet5 with Nesterov: about 4 % per
 * step, one or two counting passes per step), until the steady rate at τ lies inside the range.
 *
 * <p>{@code minSentFraction = 0} and {@code maxSentFraction = 1} give a fixed τ. Owned by one replica's
 * training thread.
 */
final class ThresholdController {
    /** Bound on counting passes per step; each pass reads the vector once. */
    static final int MAX_PASSES = 40;
    private static final float MIN_THRESHOLD = Float.MIN_NORMAL;
    private static final float MAX_THRESHOLD = Float.MAX_VALUE / 4;

    private final double minSentFraction;
    private final double maxSentFraction;
    private float threshold;
    private int lastPasses;
    private double lastChange = 4.0;
    private int boundsLength = -1;
    private long outerMin;
    private long outerMax;
    private long innerMin;
    private long innerMax;

    ThresholdController(double initialThreshold, double minSentFraction, double maxSentFraction) {
        this.threshold = (float) initialThreshold;
        this.minSentFraction = minSentFraction;
        this.maxSentFraction = maxSentFraction;
    }

    float threshold() {
        return threshold;
    }

    /** Restores τ from a checkpoint. */
    void threshold(float value) {
        if (!(value >= MIN_THRESHOLD && value <= MAX_THRESHOLD)) {
            throw new IllegalArgumentException("threshold " + value + " is outside [" + MIN_THRESHOLD + ", "
                    + MAX_THRESHOLD + "]; the checkpoint's exchange state is corrupt");
        }
        threshold = value;
    }

    /** Extra counting passes the last {@link #choose} made (0 when τ stayed). */
    int lastPasses() {
        return lastPasses;
    }

    /**
     * Chooses τ for {@code v} and returns the number of entries it sends.
     *
     * @param countAtCurrent number of entries of {@code v} with {@code |v| >= threshold()} (already counted)
     */
    int choose(float[] v, int length, int countAtCurrent) {
        bounds(length);
        lastPasses = 0;
        if (countAtCurrent >= outerMin && countAtCurrent <= outerMax) {
            return countAtCurrent;
        }
        float tau = threshold;
        int count = countAtCurrent;
        float fallbackTau = Float.NaN; // first τ seen inside the outer range, used if the inner one is missed
        int fallbackCount = 0;
        double tooLow = Double.NaN;   // largest τ known to send too many
        double tooHigh = Double.NaN;  // smallest τ known to send too few
        // The first probe repeats the last search's change of τ: while gradients drift, that usually lands
        // inside the target at once.
        double firstStep = Math.min(4.0, Math.max(1.02, lastChange));
        double gallop = firstStep;
        int lastDirection = 0;
        int passes = 0;
        while (passes < MAX_PASSES && (count < innerMin || count > innerMax)) {
            int direction = count > innerMax ? 1 : -1;
            if (direction > 0) {
                tooLow = tau;
            } else {
                tooHigh = tau;
            }
            double next;
            if (!Double.isNaN(tooLow) && !Double.isNaN(tooHigh)) {
                next = Math.sqrt(tooLow * tooHigh);
            } else {
                gallop = direction == lastDirection ? Math.min(gallop * gallop, 1e30) : firstStep;
                next = direction > 0 ? tau * gallop : tau / gallop;
            }
            lastDirection = direction;
            float candidate = (float) Math.min(MAX_THRESHOLD, Math.max(MIN_THRESHOLD, next));
            if (candidate == tau) {
                break; // the bracket collapsed to one float, or τ hit a bound: nothing left to try
            }
            tau = candidate;
            count = ThresholdCodec.count(v, length, tau);
            passes++;
            if (Float.isNaN(fallbackTau) && count >= outerMin && count <= outerMax) {
                fallbackTau = tau;
                fallbackCount = count;
            }
        }
        lastPasses = passes;
        if ((count < innerMin || count > innerMax) && !Float.isNaN(fallbackTau)) {
            tau = fallbackTau;
            count = fallbackCount;
        }
        lastChange = tau > threshold ? (double) tau / threshold : (double) threshold / tau;
        threshold = tau;
        return count;
    }

    /**
     * Count bounds for vectors of {@code length}: the target range, and the middle half of it in log
     * space that a search aims at. A positive minimum fraction means at least one entry per step, so a
     * tiny model never settles on sending nothing; when no integer count lies in a range the smallest
     * count above its lower end is the target.
     */
    private void bounds(int length) {
        if (length == boundsLength) {
            return;
        }
        boundsLength = length;
        long atLeast = minSentFraction > 0 ? 1 : 0;
        outerMin = Math.max(atLeast, (long) Math.ceil(minSentFraction * length));
        outerMax = Math.max(outerMin, (long) Math.floor(maxSentFraction * length));
        double quarterSpan = minSentFraction > 0 ? Math.pow(maxSentFraction / minSentFraction, 0.25) : 1.0;
        innerMin = Math.max(atLeast, (long) Math.ceil(minSentFraction * quarterSpan * length));
        innerMax = (long) Math.floor(maxSentFraction / quarterSpan * length);
        if (innerMin > innerMax) {
            innerMin = outerMin;
            innerMax = outerMax;
        }
    }
}
