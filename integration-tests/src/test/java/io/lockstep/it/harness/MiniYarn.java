package io.lockstep.it.harness;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.yarn.api.records.ApplicationId;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.exceptions.YarnException;
import org.apache.hadoop.yarn.server.resourcemanager.rmapp.RMApp;
import org.apache.hadoop.yarn.server.resourcemanager.rmapp.RMAppState;
import org.apache.hadoop.yarn.server.MiniYARNCluster;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * An in-process YARN cluster (a ResourceManager and {@code nodeManagers} NodeManagers,
 * {@link MiniYARNCluster} from hadoop-client-minicluster) on ephemeral ports, with {@link MiniHdfs}
 * as its default file system, and a Hadoop configuration directory that {@code spark-submit --master
 * yarn} reads through {@code HADOOP_CONF_DIR}, exactly as on a real cluster's gateway host.
 *
 * <p>Containers are real child processes of the NodeManagers (the executors and, in cluster deploy
 * mode, the driver). The FIFO scheduler is used: the capacity scheduler's default limit on
 * application masters (10 % of the cluster) would leave no room for one on a cluster this small.
 * Memory and virtual-memory checks are off: the JVMs' virtual size says nothing on a shared machine.
 * Not thread-safe to start/stop.
 */
public final class MiniYarn implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(MiniYarn.class);
    private static final String EXECUTOR_MAIN_CLASS = "org.apache.spark.executor.YarnCoarseGrainedExecutorBackend";
    private static final Set<RMAppState> FINISHED = EnumSet.of(RMAppState.FINISHED, RMAppState.FAILED, RMAppState.KILLED);
    private static final Duration NODE_MANAGER_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration KILL_TIMEOUT = Duration.ofSeconds(30);
    private static final Pattern EXECUTOR_ID = Pattern.compile("--executor-id (\\S+)");

    private final MiniYARNCluster yarn;
    private final MiniHdfs hdfs;
    private final Path confDir;
    private final SparkHome sparkHome;
    private final Path workDir;

    private MiniYarn(MiniYARNCluster yarn, MiniHdfs hdfs, Path confDir, SparkHome sparkHome, Path workDir) {
        this.yarn = yarn;
        this.hdfs = hdfs;
        this.confDir = confDir;
        this.sparkHome = sparkHome;
        this.workDir = workDir;
    }

    /**
     * Starts HDFS and YARN.
     *
     * @param nodeManagers     NodeManagers (each with its own local and log directories)
     * @param memoryPerNodeMb  memory each NodeManager offers to containers
     * @param vcoresPerNode    cores each NodeManager offers
     */
    public static MiniYarn start(int nodeManagers, int memoryPerNodeMb, int vcoresPerNode) {
        long startNanos = System.nanoTime();
        Path workDir = TestRuntime.newWorkDir("miniyarn");
        MiniHdfs hdfs = MiniHdfs.start(workDir.resolve("hdfs"));
        MiniYARNCluster yarn = null;
        try {
            YarnConfiguration conf = new YarnConfiguration(hdfs.configuration());
            conf.set("yarn.resourcemanager.scheduler.class",
                    "org.apache.hadoop.yarn.server.resourcemanager.scheduler.fifo.FifoScheduler");
            conf.setInt(YarnConfiguration.NM_PMEM_MB, memoryPerNodeMb);
            conf.setInt(YarnConfiguration.NM_VCORES, vcoresPerNode);
            conf.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, 128);
            conf.setInt(YarnConfiguration.RM_SCHEDULER_MAXIMUM_ALLOCATION_MB, memoryPerNodeMb);
            conf.setBoolean(YarnConfiguration.NM_PMEM_CHECK_ENABLED, false);
            conf.setBoolean(YarnConfiguration.NM_VMEM_CHECK_ENABLED, false);
            // A nearly full shared disk must not mark the NodeManagers unhealthy.
            conf.setFloat(YarnConfiguration.NM_MAX_PER_DISK_UTILIZATION_PERCENTAGE, 100.0f);
            conf.set(YarnConfiguration.NM_REMOTE_APP_LOG_DIR, hdfs.uri("/yarn-logs"));
            conf.set("yarn.nodemanager.hostname", SparkHome.LOOPBACK);
            conf.set("yarn.resourcemanager.hostname", SparkHome.LOOPBACK);
            yarn = new MiniYARNCluster("lockstep-it", nodeManagers, 1, 1);
            yarn.init(conf);
            yarn.start();
            Configuration started = yarn.getConfig();
            // start() can return before the ResourceManager wrote its bound port into the configuration.
            Await.withSystemClock().until("the ResourceManager's address", Duration.ofSeconds(30),
                    () -> started.get(YarnConfiguration.RM_ADDRESS, "").endsWith(":0")
                            ? Optional.empty() : Optional.of(true), () -> started.get(YarnConfiguration.RM_ADDRESS));
            // Every NodeManager registered, so that the first application's containers find room.
            if (!yarn.waitForNodeManagersToConnect(NODE_MANAGER_TIMEOUT.toMillis())) {
                throw new IllegalStateException("the " + nodeManagers + " NodeManagers did not all register with the "
                        + "ResourceManager within " + NODE_MANAGER_TIMEOUT.toSeconds() + " s");
            }
            Path confDir = Files.createDirectories(workDir.resolve("hadoop-conf"));
            try (OutputStream out = Files.newOutputStream(confDir.resolve("yarn-site.xml"))) {
                started.writeXml(out);
            }
            try (OutputStream out = Files.newOutputStream(confDir.resolve("core-site.xml"))) {
                Configuration core = new Configuration(false);
                core.set("fs.defaultFS", hdfs.uri().toString());
                core.writeXml(out);
            }
            SparkHome sparkHome = SparkHome.create(workDir.resolve("spark-home"));
            LOG.info("MiniYarn up in {} ms: ResourceManager {}, {} NodeManagers, HDFS {}",
                    (System.nanoTime() - startNanos) / 1_000_000, started.get(YarnConfiguration.RM_ADDRESS), nodeManagers, hdfs.uri());
            return new MiniYarn(yarn, hdfs, confDir, sparkHome, workDir);
        } catch (IOException | YarnException | RuntimeException e) {
            if (yarn != null) {
                yarn.stop();
            }
            hdfs.close();
            throw new IllegalStateException("Could not start MiniYARNCluster under " + workDir, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            yarn.stop();
            hdfs.close();
            throw new IllegalStateException("Interrupted while starting MiniYARNCluster under " + workDir, e);
        }
    }

    public MiniHdfs hdfs() {
        return hdfs;
    }

    /**
     * A {@code spark-submit --master yarn} for this cluster, as a gateway host runs it: the Hadoop
     * configuration from {@code HADOOP_CONF_DIR}; containers run this machine's JDK and stay on loopback.
     * Spark's jars are not uploaded: the executors use the classpath of this installation
     * ({@code spark.executor.extraClassPath}, the same machine), plus the application jar YARN localizes.
     *
     * @param deployMode {@code client} (driver in spark-submit's JVM) or {@code cluster} (driver in the
     *                   application master's container)
     */
    public SparkSubmitter submitter(String deployMode) {
        String javaHome = System.getProperty("java.home");
        return SparkSubmitter.using(sparkHome, "yarn", workDir.resolve("submissions"))
                .deployMode(deployMode)
                .env("HADOOP_CONF_DIR", confDir.toString())
                .conf("spark.yarn.jars", "local:" + sparkHome.path().resolve("jars") + "/*")
                .conf("spark.driver.extraClassPath", sparkHome.classpath())
                .conf("spark.executor.extraClassPath", sparkHome.classpath())
                .conf("spark.yarn.am.extraJavaOptions", String.join(" ", sparkHome.jvmFlags()))
                .conf("spark.yarn.appMasterEnv.JAVA_HOME", javaHome)
                .conf("spark.executorEnv.JAVA_HOME", javaHome)
                .conf("spark.yarn.appMasterEnv.SPARK_LOCAL_IP", SparkHome.LOOPBACK)
                .conf("spark.executorEnv.SPARK_LOCAL_IP", SparkHome.LOOPBACK)
                .conf("spark.yarn.submit.waitAppCompletion", "true");
    }

    /**
     * The one application the ResourceManager has accepted and not yet finished.
     *
     * @throws IllegalStateException if there is none, or more than one
     */
    public ApplicationId runningApplication() {
        List<ApplicationId> ids = yarn.getResourceManager().getRMContext().getRMApps().values().stream()
                .filter(app -> !FINISHED.contains(app.getState())).map(RMApp::getApplicationId).toList();
        if (ids.size() != 1) {
            throw new IllegalStateException(ids.size() + " YARN applications are running: " + ids + "\n" + describe());
        }
        return ids.get(0);
    }

    /**
     * The live executor JVMs of one application (containers are child processes of the
     * NodeManagers, so of this JVM), by Spark executor id. The JVMs themselves, not the shells the
     * NodeManagers start them through; the full command line is read because the JDK's view of it
     * is cut before the executor's arguments.
     */
    public Map<String, Long> executorPids(ApplicationId application) {
        Map<String, Long> executors = new TreeMap<>();
        ProcessHandle.current().descendants().filter(MiniYarn::isJava).forEach(p -> {
            String commandLine = ManagedProcess.commandLine(p).orElse("");
            Matcher executorId = EXECUTOR_ID.matcher(commandLine);
            if (commandLine.contains(EXECUTOR_MAIN_CLASS) && commandLine.contains("--app-id " + application + " ")
                    && executorId.find()) {
                executors.put(executorId.group(1), p.pid());
            }
        });
        return executors;
    }

    /**
     * Kills one executor JVM of the application with SIGKILL (as the kernel's OOM killer or a lost
     * host would) and waits until it is gone; the NodeManager then reports its container as failed.
     */
    public void killExecutor(ApplicationId application, String executorId) {
        Map<String, Long> executors = executorPids(application);
        Long pid = executors.get(executorId);
        ProcessHandle executor = pid == null ? null : ProcessHandle.of(pid).orElse(null);
        if (executor == null) {
            throw new IllegalStateException("executor " + executorId + " of " + application + " is not running; executors "
                    + executors + "\n" + describe());
        }
        ManagedProcess.killAndAwait("executor " + executorId + " of " + application, executor, KILL_TIMEOUT);
    }

    /**
     * What the ResourceManager knows of every application, the live container JVMs, and the tails of
     * every container's stderr (in cluster deploy mode the driver's log is the application master's).
     */
    public String describe() {
        StringBuilder sb = new StringBuilder("=== YARN applications (work dirs " + workDir + " and "
                + yarn.getTestWorkDir() + ") ===\n");
        yarn.getResourceManager().getRMContext().getRMApps().values().forEach(app -> sb.append(app.getApplicationId())
                .append(' ').append(app.getName()).append(' ').append(app.getState()).append(' ')
                .append(app.getDiagnostics()).append('\n'));
        containerProcesses().forEach(p -> sb.append("container process ").append(p.pid()).append(": ")
                .append(ManagedProcess.commandLine(p).map(MiniYarn::abbreviate).orElse("(exited)")).append('\n'));
        try (Stream<Path> files = Files.walk(yarn.getTestWorkDir().toPath())) {
            files.filter(f -> f.getFileName().toString().equals("stderr") && f.getParent().getFileName().toString()
                    .startsWith("container_")).sorted().forEach(f -> sb.append("=== ").append(f).append(" ===\n")
                    .append(ManagedProcess.tail(f, ManagedProcess.TAIL_LINES)));
        } catch (IOException | UncheckedIOException e) {
            sb.append("(could not list the container logs: ").append(e).append(")\n");
        }
        return sb.toString();
    }

    /**
     * Stops YARN (the NodeManagers kill their containers), then makes sure no container JVM outlived
     * it, then stops HDFS.
     */
    @Override
    public void close() {
        try {
            yarn.stop();
            List<ProcessHandle> survivors = containerProcesses();
            if (!survivors.isEmpty()) {
                LOG.warn("{} container process(es) outlived the NodeManagers; killing them: {}", survivors.size(),
                        survivors.stream().map(ProcessHandle::pid).toList());
                for (ProcessHandle survivor : survivors) {
                    ManagedProcess.killAndAwait("YARN container process " + survivor.pid(), survivor, KILL_TIMEOUT);
                }
            }
        } finally {
            hdfs.close();
        }
    }

    /** JVMs started in YARN containers: application masters (drivers in cluster mode) and executors. */
    private static List<ProcessHandle> containerProcesses() {
        return ProcessHandle.current().descendants().filter(MiniYarn::isJava).filter(p -> {
            String commandLine = ManagedProcess.commandLine(p).orElse("");
            return commandLine.contains(EXECUTOR_MAIN_CLASS) || commandLine.contains("org.apache.spark.deploy.yarn.");
        }).toList();
    }

    private static boolean isJava(ProcessHandle p) {
        return p.info().command().orElse("").endsWith("/java");
    }

    private static String abbreviate(String commandLine) {
        return commandLine.length() <= 300 ? commandLine : commandLine.substring(0, 150) + " ... "
                + commandLine.substring(commandLine.length() - 150);
    }

    @Override
    public String toString() {
        return "MiniYarn(" + workDir + ")";
    }
}
