package io.lockstep.worker.train;

import java.util.Locale;

/**
 * What to do when a step's gradient (after the exchange, so every replica sees the same one) holds
 * NaN or infinity.
 */
public enum NonFinitePolicy {
    /** Stop training; the driver names the epoch, the step and the last good checkpoint. */
    STOP,
    /**
     * Skip the step on every replica: its gradient is replaced by zeros. With momentum the optimizer
     * still applies the decayed previous update; the number of skipped steps is reported.
     */
    SKIP_STEP;

    public static NonFinitePolicy parse(String text) {
        return switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "stop" -> STOP;
            case "skip-step" -> SKIP_STEP;
            default -> throw new IllegalArgumentException("unknown policy '" + text + "'; use stop or skip-step");
        };
    }
}
