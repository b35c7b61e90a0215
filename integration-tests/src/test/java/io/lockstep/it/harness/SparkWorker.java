package io.lockstep.it.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * One Spark standalone Worker JVM of a {@link StandaloneSparkCluster}, and the executor JVMs it
 * launched (its child processes, main class {@value #EXECUTOR_MAIN_CLASS}).
 *
 * <p>Owned by the test thread, like its cluster. Executors are found through
 * {@link ProcessHandle#descendants()}, so they can be killed with SIGKILL exactly like an executor
 * lost on a real cluster.
 */
public final class SparkWorker {
    /** Main class of the executor JVMs a Worker launches. */
    public static final String EXECUTOR_MAIN_CLASS = "org.apache.spark.executor.CoarseGrainedExecutorBackend";

    private final int index;
    private final ManagedProcess process;
    private final Path workDir;
    private volatile int rpcPort = -1;

    SparkWorker(int index, ManagedProcess process, Path workDir) {
        this.index = index;
        this.process = process;
        this.workDir = workDir;
    }

    /** Position in {@link StandaloneSparkCluster#workers()}, from 0. */
    public int index() {
        return index;
    }

    /** The Worker JVM (its logs, its pid). */
    public ManagedProcess process() {
        return process;
    }

    public long pid() {
        return process.pid();
    }

    /** The Worker's RPC port on 127.0.0.1 (how the Master identifies it), or -1 before it has bound. */
    public int rpcPort() {
        return rpcPort;
    }

    void rpcPort(int port) {
        this.rpcPort = port;
    }

    /** {@code --work-dir}: one sub-directory per application, one per executor with its stdout/stderr. */
    public Path workDir() {
        return workDir;
    }

    /** The executor JVMs of this Worker alive now (normally at most one per application). */
    public List<ProcessHandle> executorProcesses() {
        return process.handle().descendants()
                .filter(ProcessHandle::isAlive)
                .filter(p -> ManagedProcess.commandLine(p).map(c -> c.contains(EXECUTOR_MAIN_CLASS)).orElse(false))
                .toList();
    }

    /** True if {@code pid} is a live executor JVM of this Worker. */
    public boolean runsExecutor(long pid) {
        return executorProcesses().stream().anyMatch(p -> p.pid() == pid);
    }

    /** Waits until this Worker runs an executor and returns it (the first if several). */
    public ProcessHandle awaitExecutor(Duration timeout) {
        return Await.withSystemClock().until("an executor JVM on worker " + index, timeout, () -> {
            process.requireAlive("an executor on worker " + index);
            return executorProcesses().stream().findFirst();
        }, this::describe);
    }

    /**
     * Kills this Worker's only executor with SIGKILL ({@code kill -9}) and waits until it is gone.
     *
     * @return the pid of the killed executor
     * @throws IllegalStateException if the Worker runs no executor or more than one
     */
    public long killExecutor(Duration timeout) {
        List<ProcessHandle> executors = executorProcesses();
        if (executors.size() != 1) {
            throw new IllegalStateException("Worker " + index + " runs " + executors.size() + " executors "
                    + executors.stream().map(ProcessHandle::pid).toList() + "; expected exactly one to kill.\n" + describe());
        }
        ProcessHandle executor = executors.get(0);
        ManagedProcess.killAndAwait("executor " + executor.pid() + " of worker " + index, executor, timeout);
        return executor.pid();
    }

    /** Kills the Worker JVM and its executors with SIGKILL, as a lost machine would look to the Master. */
    public void kill(Duration timeout) {
        process.killTree(timeout);
    }

    /** The Worker's log tail and the stderr tail of its newest executor. */
    public String describe() {
        StringBuilder sb = new StringBuilder(process.describe());
        newestExecutorStderr().ifPresent(stderr -> sb.append("=== newest executor of worker ").append(index)
                .append(": ").append(stderr).append(" ===\n").append(ManagedProcess.tail(stderr, ManagedProcess.TAIL_LINES)));
        return sb.toString();
    }

    /** {@code <work dir>/<app id>/<executor id>/stderr} of the executor started last, if any. */
    public Optional<Path> newestExecutorStderr() {
        if (!Files.isDirectory(workDir)) {
            return Optional.empty();
        }
        try (Stream<Path> files = Files.find(workDir, 3, (p, attrs) -> p.getFileName().toString().equals("stderr"))) {
            return files.max(Comparator.comparingLong(SparkWorker::lastModified));
        } catch (IOException e) {
            throw new UncheckedIOException("Could not list executor logs under " + workDir, e);
        }
    }

    private static long lastModified(Path p) {
        try {
            return Files.getLastModifiedTime(p).toMillis();
        } catch (IOException e) {
            return Long.MIN_VALUE;
        }
    }

    @Override
    public String toString() {
        return "worker " + index + " (pid " + pid() + ", port " + rpcPort + ")";
    }
}
