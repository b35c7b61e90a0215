package io.lockstep.it.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * How a submitted application's driver JVM ended: exit code, wall time from submission, and its
 * captured stdout (the application's own output) and stderr (Spark's log).
 *
 * @param exitCode driver JVM exit code (0 = the application's main returned or exited with 0)
 * @param elapsed  from starting {@code spark-submit} to the driver's exit
 */
public record SubmitResult(String name, int exitCode, Duration elapsed, Path stdoutFile, Path stderrFile) {

    /** The driver's whole stdout. */
    public String stdout() {
        try {
            return new String(Files.readAllBytes(stdoutFile), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("Could not read " + stdoutFile, e);
        }
    }

    /** Headline plus the tails of stderr and stdout, for assertion messages. */
    public String describe() {
        return "=== " + name + " exited with code " + exitCode + " after " + elapsed.toMillis() + " ms; stderr "
                + stderrFile + " ===\n" + ManagedProcess.tail(stderrFile, ManagedProcess.TAIL_LINES)
                + "=== " + name + " stdout " + stdoutFile + " ===\n" + ManagedProcess.tail(stdoutFile, ManagedProcess.TAIL_LINES);
    }
}
