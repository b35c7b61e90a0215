package io.lockstep.worker.train;

import io.lockstep.worker.testing.ChildJvm;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The thread count a replica is given is the one its ops run with: in a fresh JVM (ND4J's thread
 * settings are process state, read once at native start-up), {@link ComputeThreads#bind} on the task
 * thread, and the prefetch thread through {@link Prefetcher}, report the count in force, and the
 * number of native threads that did element-wise, OneDNN convolution (through DL4J's helper and called
 * directly) and BLAS work is exactly one
 * when one thread is asked for (unbound, every core would work).
 */
@EnabledOnOs(OS.LINUX) // counts threads through /proc
class ComputeThreadsTest {
    private static final Pattern LINE = Pattern.compile("(task|prefetch) (\\w+) inForce=(\\d+) busy=(\\d+)");

    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void theCountInForceIsTheCountAskedForAndNoMoreThreadsWork(int threads) throws Exception {
        int cores = Runtime.getRuntime().availableProcessors();
        int expected = Math.min(threads, cores);
        String output = runChild(threads);
        Matcher line = LINE.matcher(output);
        int lines = 0;
        while (line.find()) {
            lines++;
            String what = line.group(1) + " thread, " + line.group(2) + ": " + output;
            assertEquals(expected, Integer.parseInt(line.group(3)), what);
            int busy = Integer.parseInt(line.group(4));
            if (expected == 1) {
                // Unbound, each of these ops would run on every core.
                assertEquals(1, busy, "busy native threads for " + what);
            } else {
                // More can look busy: idle OpenMP and OpenBLAS workers spin for a while before sleeping.
                assertTrue(busy >= 1, "busy native threads " + busy + " for " + what);
            }
        }
        assertEquals(8, lines, "the probe reports 4 ops on 2 threads; it printed:\n" + output);
        assertTrue(output.contains("direct convolutions 1"), "one convolution must run on OneDNN directly:\n" + output);
        assertTrue(output.contains("MKLDNNConvHelper"), "the convolution must run through OneDNN:\n" + output);
    }

    private static String runChild(int threads) throws IOException, InterruptedException {
        Path log = Files.createTempFile("compute-threads-probe", ".log");
        ProcessBuilder builder = ChildJvm.builder(ComputeThreadsProbe.class, Integer.toString(threads))
                .redirectErrorStream(true).redirectOutput(log.toFile());
        // The child must start from the machine's defaults, not from whatever this JVM was given.
        builder.environment().remove("OMP_NUM_THREADS");
        builder.environment().remove("SD_MAX_THREADS");
        builder.environment().remove("SD_MASTER_THREADS");
        Process child = builder.start();
        try {
            if (!child.waitFor(180, TimeUnit.SECONDS)) {
                child.destroyForcibly();
                throw new AssertionError("the probe JVM did not finish within 180 s:\n" + Files.readString(log));
            }
        } finally {
            child.destroyForcibly();
        }
        String text = Files.readString(log, StandardCharsets.UTF_8);
        Files.delete(log);
        assertEquals(0, child.exitValue(), "probe JVM failed:\n" + text);
        return text;
    }
}
