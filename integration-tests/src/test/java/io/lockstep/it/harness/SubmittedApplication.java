package io.lockstep.it.harness;

import java.time.Duration;

/**
 * A running {@code spark-submit} (client deploy mode: the driver runs in this process).
 *
 * <p>Owned by the thread that submitted it. {@link #close()} kills the driver with SIGKILL if it
 * is still running; use try-with-resources so a failed test never leaves a driver behind.
 */
public final class SubmittedApplication implements AutoCloseable {
    private final ManagedProcess driver;
    private final long startNanos;

    SubmittedApplication(ManagedProcess driver, long startNanos) {
        this.driver = driver;
        this.startNanos = startNanos;
    }

    /** The driver JVM (pid, logs, liveness). */
    public ManagedProcess driver() {
        return driver;
    }

    /**
     * Waits for the driver to exit.
     *
     * @throws IllegalStateException with the driver's log tails if it is still running at the
     *         deadline (it is then killed)
     */
    public SubmitResult awaitExit(Duration timeout) {
        int exitCode;
        try {
            exitCode = driver.awaitExit(timeout);
        } catch (IllegalStateException timedOut) {
            driver.killTree(Duration.ofSeconds(30));
            throw timedOut;
        }
        return new SubmitResult(driver.name(), exitCode, Duration.ofNanos(System.nanoTime() - startNanos),
                driver.stdoutFile(), driver.stderrFile());
    }

    @Override
    public void close() {
        if (driver.isAlive()) {
            driver.killTree(Duration.ofSeconds(30));
        }
    }
}
