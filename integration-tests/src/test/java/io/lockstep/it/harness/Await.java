package io.lockstep.it.harness;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Waits for a condition to hold, polling it until a deadline; the harness's only way to wait for
 * another process (never a fixed sleep).
 *
 * <p>The probe runs on the calling thread. A probe may throw to fail fast (for example when the
 * process it waits for has died); the exception propagates unchanged. On timeout an
 * {@link IllegalStateException} names what was awaited, for how long, and the diagnostics (log
 * tails of the processes involved), evaluated only then.
 */
public final class Await {
    /** Polling period; short enough to add little latency, long enough to cost nothing on 2 cores. */
    static final long POLL_INTERVAL_MS = 50;

    private final LongSupplier nanoClock;

    /** @param nanoClock monotonic clock in nanoseconds (System::nanoTime outside tests of this class) */
    public Await(LongSupplier nanoClock) {
        this.nanoClock = nanoClock;
    }

    /** The system monotonic clock. */
    public static Await withSystemClock() {
        return new Await(System::nanoTime);
    }

    /**
     * Polls {@code probe} until it returns a value.
     *
     * @param what        what is awaited, phrased for "timed out waiting for ..."
     * @param timeout     how long to wait in total
     * @param probe       returns empty while the condition does not hold yet
     * @param diagnostics evaluated on timeout only; say what the awaited party was doing
     */
    public <T> T until(String what, Duration timeout, Supplier<Optional<T>> probe, Supplier<String> diagnostics) {
        long start = nanoClock.getAsLong();
        long timeoutNanos = timeout.toNanos();
        while (true) {
            Optional<T> value = probe.get();
            if (value.isPresent()) {
                return value.get();
            }
            long waited = nanoClock.getAsLong() - start;
            if (waited >= timeoutNanos) {
                throw new IllegalStateException("Timed out after " + TimeUnit.NANOSECONDS.toMillis(waited)
                        + " ms waiting for " + what + ".\n" + diagnostics.get());
            }
            try {
                Thread.sleep(Math.min(POLL_INTERVAL_MS, TimeUnit.NANOSECONDS.toMillis(timeoutNanos - waited) + 1));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("Interrupted while waiting for " + what, e);
            }
        }
    }

    /** Like {@link #until(String, Duration, Supplier, Supplier)} for a plain condition. */
    public void untilTrue(String what, Duration timeout, Supplier<Boolean> condition, Supplier<String> diagnostics) {
        until(what, timeout, () -> condition.get() ? Optional.of(Boolean.TRUE) : Optional.empty(), diagnostics);
    }
}
