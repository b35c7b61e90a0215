package io.lockstep.driver.train;

import io.lockstep.api.EpochResult;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command line's progress where standard error is not a terminal (logs, CI): plain lines, each printed once. */
class ConsoleProgressTest {

    @Test
    void printsEachBarLineOnceWhenNotATerminal() {
        assertNull(System.console(), "the test JVM's standard streams must not be a terminal");
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream err = System.err;
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            ConsoleProgress progress = new ConsoleProgress();
            for (int epoch = 0; epoch < 2; epoch++) {
                progress.epochStarted(epoch, 2, 10);
                // As in a real epoch, the bar draws its first line before the steps come.
                awaitLine(captured, "epoch " + (epoch + 1) + "/2   0%");
                for (int step = 1; step <= 10; step++) {
                    progress.stepReached(epoch, step, 1.0 / step, 100);
                }
                progress.epochFinished(new EpochResult(epoch, 2, 0.5, 0.9, 100, 1, 0, 0, 0, "checkpoint"));
            }
        } finally {
            System.setErr(err);
        }
        List<String> lines = captured.toString(StandardCharsets.UTF_8).lines().toList();
        for (int epoch = 1; epoch <= 2; epoch++) {
            String finished = "epoch " + epoch + "/2 100%";
            assertEquals(1, lines.stream().filter(l -> l.startsWith(finished)).count(),
                    "the finished bar of epoch " + epoch + " once:\n" + String.join("\n", lines));
            String summary = "epoch " + epoch + "/2  loss 0.5000  test accuracy 0.9000";
            assertEquals(1, lines.stream().filter(l -> l.startsWith(summary)).count(), String.join("\n", lines));
        }
        assertTrue(lines.stream().noneMatch(l -> l.contains("\r")), "no carriage returns in a log");
    }

    private static void awaitLine(ByteArrayOutputStream captured, String start) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (captured.toString(StandardCharsets.UTF_8).lines().noneMatch(l -> l.startsWith(start))) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no line starting '" + start + "' within 30 s: " + captured);
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
    }
}
