package io.lockstep.it.harness;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A child process started by the harness, with its stdout and stderr captured to files so that
 * every failure message can quote their tails.
 *
 * <p>Not thread-safe: the thread that started it (the test's) owns it. {@link #close()} kills the
 * process and all its descendants with SIGKILL and waits for them, so a test can never leak a JVM
 * onto the shared machine.
 */
public final class ManagedProcess implements AutoCloseable {
    /** Lines of each log quoted in failure messages. */
    public static final int TAIL_LINES = 40;
    private static final int TAIL_BYTES = 64 * 1024;
    private static final int MAX_LINE_CHARS = 1000;

    private final String name;
    private final Process process;
    private final Path stdoutFile;
    private final Path stderrFile;

    private ManagedProcess(String name, Process process, Path stdoutFile, Path stderrFile) {
        this.name = name;
        this.process = process;
        this.stdoutFile = stdoutFile;
        this.stderrFile = stderrFile;
    }

    /**
     * Starts {@code builder}, redirecting its output to {@code logDir/<name>.out} and {@code .err}.
     *
     * @param name short unique name (file-name safe), used in every message about the process
     */
    public static ManagedProcess start(String name, ProcessBuilder builder, Path logDir) {
        Path out = logDir.resolve(name + ".out");
        Path err = logDir.resolve(name + ".err");
        try {
            Files.createDirectories(logDir);
            builder.redirectOutput(out.toFile()).redirectError(err.toFile());
            return new ManagedProcess(name, builder.start(), out, err);
        } catch (IOException e) {
            throw new UncheckedIOException("Could not start " + name + " with command " + builder.command(), e);
        }
    }

    /** Wraps a process started elsewhere (e.g. by SparkLauncher) whose output already goes to these files. */
    static ManagedProcess adopt(String name, Process process, Path stdoutFile, Path stderrFile) {
        return new ManagedProcess(name, process, stdoutFile, stderrFile);
    }

    public String name() {
        return name;
    }

    public long pid() {
        return process.pid();
    }

    public ProcessHandle handle() {
        return process.toHandle();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public Path stdoutFile() {
        return stdoutFile;
    }

    public Path stderrFile() {
        return stderrFile;
    }

    /** Exit code, or empty while running. */
    public Optional<Integer> exitCode() {
        return process.isAlive() ? Optional.empty() : Optional.of(process.exitValue());
    }

    /** Fails with the log tails if the process has exited; use inside awaited probes to fail fast. */
    public void requireAlive(String whileWaitingFor) {
        if (!process.isAlive()) {
            throw new IllegalStateException(name + " exited with code " + process.exitValue() + " while waiting for "
                    + whileWaitingFor + ".\n" + describe());
        }
    }

    /**
     * Waits for the process to exit on its own.
     *
     * @return its exit code
     * @throws IllegalStateException naming the process and quoting its logs if it is still running at the deadline
     */
    public int awaitExit(Duration timeout) {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException(name + " (pid " + pid() + ") did not exit within " + timeout.toSeconds()
                        + " s.\n" + describe());
            }
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while waiting for " + name + " to exit", e);
        }
    }

    /** A headline (pid, state) and the tails of stderr and stdout. */
    public String describe() {
        String state = process.isAlive() ? "running" : "exited with code " + process.exitValue();
        return "=== " + name + " (pid " + pid() + ", " + state + ") stderr " + stderrFile + " ===\n"
                + tail(stderrFile, TAIL_LINES)
                + "=== " + name + " stdout " + stdoutFile + " ===\n"
                + tail(stdoutFile, TAIL_LINES);
    }

    /**
     * Kills the process and every descendant with SIGKILL and waits for all of them to be gone.
     * A child spawned after the descendants were listed survives the parent; Spark executors exit
     * by themselves when their Worker or driver disappears.
     */
    public void killTree(Duration timeout) {
        killAndAwait(name, process.toHandle(), timeout);
    }

    /** Kills {@code root} and its descendants with SIGKILL and waits until none is alive. */
    static void killAndAwait(String what, ProcessHandle root, Duration timeout) {
        List<ProcessHandle> victims = new ArrayList<>();
        root.descendants().forEach(victims::add);
        victims.add(root);
        List<CompletableFuture<ProcessHandle>> exits = new ArrayList<>();
        for (ProcessHandle victim : victims) {
            victim.destroyForcibly();
            exits.add(victim.onExit());
        }
        try {
            CompletableFuture.allOf(exits.toArray(CompletableFuture[]::new)).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            List<Long> survivors = victims.stream().filter(ProcessHandle::isAlive).map(ProcessHandle::pid).toList();
            throw new IllegalStateException("Processes " + survivors + " of " + what + " survived SIGKILL for "
                    + timeout.toSeconds() + " s; kill them by pid", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("Waiting for " + what + " to die failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while killing " + what, e);
        }
    }

    @Override
    public void close() {
        killTree(Duration.ofSeconds(30));
    }

    @Override
    public String toString() {
        return name + "(pid " + pid() + ")";
    }

    /** Keeps failure messages readable: Spark logs whole classpaths (e.g. a Worker's executor launch command). */
    private static String abbreviate(String line) {
        if (line.length() <= MAX_LINE_CHARS) {
            return line;
        }
        return line.substring(0, MAX_LINE_CHARS / 2) + " [... " + (line.length() - MAX_LINE_CHARS) + " chars ...] "
                + line.substring(line.length() - MAX_LINE_CHARS / 2);
    }

    /**
     * The full command line of a live process, arguments separated by spaces. Reads
     * {@code /proc/<pid>/cmdline} on Linux because {@link ProcessHandle.Info#commandLine()} is cut
     * at 4096 bytes there, before the main class of a JVM with a long classpath.
     */
    public static Optional<String> commandLine(ProcessHandle process) {
        Path procCmdline = Path.of("/proc", Long.toString(process.pid()), "cmdline");
        if (Files.isReadable(procCmdline)) {
            try {
                return Optional.of(new String(Files.readAllBytes(procCmdline), StandardCharsets.UTF_8).replace('\0', ' '));
            } catch (IOException e) {
                return Optional.empty(); // the process exited meanwhile
            }
        }
        return process.info().commandLine();
    }

    /** The last {@code lines} lines of a (possibly large, possibly still growing) text file. */
    public static String tail(Path file, int lines) {
        if (!Files.exists(file)) {
            return "(" + file + " does not exist)\n";
        }
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "r")) {
            long length = raf.length();
            long from = Math.max(0, length - TAIL_BYTES);
            byte[] bytes = new byte[(int) (length - from)];
            raf.seek(from);
            raf.readFully(bytes);
            String text = new String(bytes, StandardCharsets.UTF_8);
            String[] all = text.split("\n", -1);
            int end = all.length > 0 && all[all.length - 1].isEmpty() ? all.length - 1 : all.length;
            int start = Math.max(0, end - lines);
            StringBuilder sb = new StringBuilder();
            for (int i = start; i < end; i++) {
                sb.append(abbreviate(all[i])).append('\n');
            }
            return sb.length() == 0 ? "(empty)\n" : sb.toString();
        } catch (IOException e) {
            return "(could not read " + file + ": " + e + ")\n";
        }
    }
}
