package io.lockstep.it.harness;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real Spark standalone cluster on 127.0.0.1: one Master and N Workers, each its own JVM started
 * from spark-core's main classes on the test classpath (no Spark tarball), with ephemeral ports
 * read back from the daemons' logs.
 *
 * <p>Typical use, one cluster per test class:
 * <pre>{@code
 * try (StandaloneSparkCluster cluster = StandaloneSparkCluster.builder().workers(2).start()) {
 *     SubmitResult r = SparkSubmitter.to(cluster).mainClass(App.class).appJar(jar).run(Duration.ofMinutes(2));
 * }
 * }</pre>
 *
 * <p>Not thread-safe: the thread that started it owns it. {@link #close()} kills every daemon and
 * executor (SIGKILL) and waits for them; a JVM shutdown hook and {@link OrphanGuard} do the same
 * if the test JVM dies first. Daemons log to {@code <work dir>/logs}; every failure message quotes
 * their tails. Memory: about 200 MB per daemon plus each executor's {@code spark.executor.memory}.
 */
public final class StandaloneSparkCluster implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(StandaloneSparkCluster.class);
    private static final String MASTER_MAIN_CLASS = "org.apache.spark.deploy.master.Master";
    private static final String WORKER_MAIN_CLASS = "org.apache.spark.deploy.worker.Worker";
    private static final Pattern MASTER_URL = Pattern.compile("Starting Spark master at (spark://[^\\s]+)");
    private static final Pattern MASTER_UI_PORT = Pattern.compile("Successfully started service 'MasterUI' on port (\\d+)");
    private static final Pattern WORKER_PORT = Pattern.compile("Starting Spark worker [^:\\s]+:(\\d+) with");
    /** C1 only and serial GC: daemons start faster and leave the 2 cores to the drivers and executors. */
    private static final List<String> DAEMON_FLAGS = List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1");
    private static final Duration KILL_TIMEOUT = Duration.ofSeconds(30);

    private final int workerCount;
    private final int coresPerWorker;
    private final int memoryPerWorkerMb;
    private final int daemonHeapMb;
    private final Duration startTimeout;
    private final Path workDir;
    private final SparkHome sparkHome;
    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final Thread shutdownHook;
    private ManagedProcess master;
    private final List<SparkWorker> workers = new ArrayList<>();
    private String masterUrl;
    private URI masterWebUi;
    private Duration startupTime;
    private boolean closed;

    private StandaloneSparkCluster(Builder config) {
        this.workerCount = config.workers;
        this.coresPerWorker = config.coresPerWorker;
        this.memoryPerWorkerMb = config.memoryPerWorkerMb;
        this.daemonHeapMb = config.daemonHeapMb;
        this.startTimeout = config.startTimeout;
        this.workDir = config.workDir != null ? config.workDir.toAbsolutePath() : TestRuntime.newWorkDir("spark-standalone");
        this.sparkHome = SparkHome.create(workDir.resolve("spark-home"));
        this.shutdownHook = new Thread(this::killAllQuietly, "kill-spark-standalone-cluster");
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Cluster shape and deadlines; validated in {@link #start()}. */
    public static final class Builder {
        private int workers = 2;
        private int coresPerWorker = 1;
        private int memoryPerWorkerMb = 1024;
        private int daemonHeapMb = 384;
        private Duration startTimeout = Duration.ofSeconds(120);
        private Path workDir;

        private Builder() {
        }

        public Builder workers(int workers) {
            this.workers = workers;
            return this;
        }

        /** {@code --cores} of every Worker: the number of task slots it offers. */
        public Builder coresPerWorker(int cores) {
            this.coresPerWorker = cores;
            return this;
        }

        /** {@code --memory} of every Worker; an executor needs {@code spark.executor.memory} (default 1024) of it. */
        public Builder memoryPerWorkerMb(int mb) {
            this.memoryPerWorkerMb = mb;
            return this;
        }

        /** Heap of the Master and Worker JVMs themselves. */
        public Builder daemonHeapMb(int mb) {
            this.daemonHeapMb = mb;
            return this;
        }

        /** Deadline for the Master to start and all Workers to register ALIVE (the machine may be busy). */
        public Builder startTimeout(Duration timeout) {
            this.startTimeout = timeout;
            return this;
        }

        /** Where Spark home, logs and Worker dirs go; default a fresh dir under {@link TestRuntime#newWorkDir}. */
        public Builder workDir(Path dir) {
            this.workDir = dir;
            return this;
        }

        /** Starts the Master, then all Workers at once, and waits until the Master lists them ALIVE. */
        public StandaloneSparkCluster start() {
            if (workers < 1 || coresPerWorker < 1 || memoryPerWorkerMb < 256 || daemonHeapMb < 128
                    || startTimeout.isNegative() || startTimeout.isZero()) {
                throw new IllegalArgumentException("Invalid cluster: workers=" + workers + " (>=1), coresPerWorker="
                        + coresPerWorker + " (>=1), memoryPerWorkerMb=" + memoryPerWorkerMb + " (>=256), daemonHeapMb="
                        + daemonHeapMb + " (>=128), startTimeout=" + startTimeout + " (>0)");
            }
            StandaloneSparkCluster cluster = new StandaloneSparkCluster(this);
            try {
                cluster.startDaemons();
                return cluster;
            } catch (RuntimeException | Error e) {
                cluster.killAllQuietly();
                throw e;
            }
        }
    }

    private void startDaemons() {
        Runtime.getRuntime().addShutdownHook(shutdownHook);
        long startNanos = System.nanoTime();
        Await await = Await.withSystemClock();
        Path logs = workDir.resolve("logs");

        master = startDaemon("master", MASTER_MAIN_CLASS, List.of("--host", SparkHome.LOOPBACK, "--port", "0",
                "--webui-port", "0"), logs);
        masterUrl = await.until("the Master to bind its RPC port", startTimeout, () -> {
            master.requireAlive("its RPC port");
            return find(MASTER_URL, master.stderrFile());
        }, master::describe);
        // Workers start as soon as the RPC port is known: the Master's web UI binds meanwhile.
        for (int i = 0; i < workerCount; i++) {
            Path dir = workDir.resolve("worker-" + i);
            ManagedProcess process = startDaemon("worker-" + i, WORKER_MAIN_CLASS, List.of("--host", SparkHome.LOOPBACK,
                    "--port", "0", "--webui-port", "0", "--cores", Integer.toString(coresPerWorker),
                    "--memory", memoryPerWorkerMb + "m", "--work-dir", dir.toString(), masterUrl), logs);
            workers.add(new SparkWorker(i, process, dir));
        }
        int uiPort = Integer.parseInt(await.until("the Master to bind its web UI", startTimeout, () -> {
            master.requireAlive("its web UI port");
            return find(MASTER_UI_PORT, master.stderrFile());
        }, master::describe));
        masterWebUi = URI.create("http://" + SparkHome.LOOPBACK + ":" + uiPort + "/");
        for (SparkWorker worker : workers) {
            worker.rpcPort(Integer.parseInt(await.until("worker " + worker.index() + " to bind its RPC port",
                    startTimeout, () -> {
                        worker.process().requireAlive("its RPC port");
                        return find(WORKER_PORT, worker.process().stderrFile());
                    }, worker::describe)));
        }
        awaitAliveWorkers(workerCount, startTimeout);
        startupTime = Duration.ofNanos(System.nanoTime() - startNanos);
        LOG.info("Spark standalone cluster {} with {} workers up in {} ms (work dir {})", masterUrl, workerCount,
                startupTime.toMillis(), workDir);
    }

    private ManagedProcess startDaemon(String name, String mainClass, List<String> args, Path logDir) {
        ProcessBuilder builder = new ProcessBuilder(sparkHome.guardedJavaCommand(mainClass, daemonHeapMb,
                DAEMON_FLAGS, args));
        sparkHome.applyEnvironment(builder.environment());
        builder.directory(workDir.toFile());
        return ManagedProcess.start(name, builder, logDir);
    }

    /** {@code spark://127.0.0.1:<port>}, the URL drivers connect to. */
    public String masterUrl() {
        return masterUrl;
    }

    /** The Master's web UI; {@code masterWebUi().resolve("json/")} is its state as JSON. */
    public URI masterWebUi() {
        return masterWebUi;
    }

    /** The Spark installation every process of this cluster uses; submit through it. */
    public SparkHome sparkHome() {
        return sparkHome;
    }

    public Path workDir() {
        return workDir;
    }

    public ManagedProcess master() {
        return master;
    }

    public List<SparkWorker> workers() {
        return List.copyOf(workers);
    }

    public SparkWorker worker(int index) {
        return workers.get(index);
    }

    /** Task slots the cluster offers: workers × cores per worker. */
    public int totalCores() {
        return workerCount * coresPerWorker;
    }

    public int memoryPerWorkerMb() {
        return memoryPerWorkerMb;
    }

    /** From the start of the Master until the Master listed every Worker ALIVE. */
    public Duration startupTime() {
        return startupTime;
    }

    /** The worker whose live executor JVM has this pid. */
    public Optional<SparkWorker> workerRunningExecutor(long executorPid) {
        return workers.stream().filter(w -> w.runsExecutor(executorPid)).findFirst();
    }

    /**
     * Kills the executor JVM with this pid with SIGKILL and waits until it is gone.
     *
     * @return the Worker that ran it
     * @throws IllegalStateException if no Worker of this cluster runs an executor with this pid
     *         (so a test can never kill an unrelated process)
     */
    public SparkWorker killExecutor(long executorPid, Duration timeout) {
        SparkWorker worker = workerRunningExecutor(executorPid).orElseThrow(() -> new IllegalStateException(
                "pid " + executorPid + " is not a live executor of this cluster; executors: " + executorPids() + "\n"
                        + describe()));
        ProcessHandle executor = ProcessHandle.of(executorPid).orElseThrow(() -> new IllegalStateException(
                "Executor " + executorPid + " exited before it could be killed"));
        ManagedProcess.killAndAwait("executor " + executorPid + " of worker " + worker.index(), executor, timeout);
        return worker;
    }

    /** Pids of all live executor JVMs, per worker index. */
    public List<List<Long>> executorPids() {
        return workers.stream().map(w -> w.executorProcesses().stream().map(ProcessHandle::pid).toList()).toList();
    }

    /** The Master's {@code /json/} state (workers, apps, their states). */
    public JsonNode masterState() {
        HttpRequest request = HttpRequest.newBuilder(masterWebUi.resolve("json/")).timeout(Duration.ofSeconds(10)).GET().build();
        try {
            HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() != 200) {
                throw new IllegalStateException("Master UI " + request.uri() + " answered HTTP " + response.statusCode());
            }
            return json.readTree(response.body());
        } catch (IOException e) {
            throw new UncheckedIOException("Could not read the Master's state from " + request.uri(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while reading " + request.uri(), e);
        }
    }

    /** Rpc ports of the workers the Master lists as ALIVE. */
    public Set<Integer> aliveWorkerPorts() {
        Set<Integer> ports = new HashSet<>();
        for (JsonNode worker : masterState().path("workers")) {
            if ("ALIVE".equals(worker.path("state").asText())) {
                ports.add(worker.path("port").asInt());
            }
        }
        return ports;
    }

    /** Waits until the Master lists at least {@code count} of this cluster's workers as ALIVE. */
    public void awaitAliveWorkers(int count, Duration timeout) {
        Await.withSystemClock().untilTrue(count + " workers registered ALIVE with the Master", timeout, () -> {
            master.requireAlive("workers to register");
            Set<Integer> alive = aliveWorkerPorts();
            return workers.stream().filter(w -> alive.contains(w.rpcPort())).count() >= count;
        }, this::describe);
    }

    /** Log tails of the Master, every Worker and their newest executors. */
    public String describe() {
        StringBuilder sb = new StringBuilder("Spark standalone cluster " + masterUrl + ", work dir " + workDir + "\n");
        if (master != null) {
            sb.append(master.describe());
        }
        workers.forEach(w -> sb.append(w.describe()));
        return sb.toString();
    }

    /** Kills the Master and every Worker (with its executors) with SIGKILL and waits for them to be gone. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            killAll();
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException shuttingDown) {
                // The hook is running or about to: nothing left to unregister.
            }
        }
    }

    private void killAll() {
        List<RuntimeException> failures = new ArrayList<>();
        // Master first: it cannot then schedule replacement executors while the Workers die.
        if (master != null) {
            try {
                master.killTree(KILL_TIMEOUT);
            } catch (RuntimeException e) {
                failures.add(e);
            }
        }
        for (SparkWorker worker : workers) {
            try {
                worker.kill(KILL_TIMEOUT);
            } catch (RuntimeException e) {
                failures.add(e);
            }
        }
        if (!failures.isEmpty()) {
            IllegalStateException failure = new IllegalStateException("Could not stop every process of " + masterUrl);
            failures.forEach(failure::addSuppressed);
            throw failure;
        }
    }

    private void killAllQuietly() {
        try {
            killAll();
        } catch (RuntimeException e) {
            LOG.error("Stopping the Spark standalone cluster failed; check for leftover JVMs", e);
        }
    }

    private static Optional<String> find(Pattern pattern, Path log) {
        if (!Files.exists(log)) {
            return Optional.empty();
        }
        try {
            Matcher m = pattern.matcher(new String(Files.readAllBytes(log), StandardCharsets.UTF_8));
            return m.find() ? Optional.of(m.group(1)) : Optional.empty();
        } catch (IOException e) {
            throw new UncheckedIOException("Could not read " + log, e);
        }
    }

    @Override
    public String toString() {
        return "StandaloneSparkCluster(" + masterUrl + ", " + workers.size() + " workers)";
    }
}
