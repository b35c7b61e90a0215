package io.lockstep.it.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Submits an application the way a user does: {@code $SPARK_HOME/bin/spark-submit --master ...
 * --deploy-mode client|cluster --class ... <app jar> <args>}, in its own process, through Spark's own
 * launcher (which adds Spark's module flags and {@code spark-defaults.conf}).
 *
 * <p>A mutable builder, owned by one thread. The application jar is shipped to executors by Spark
 * ({@code spark.jars}); executors also see the test classpath through {@code SPARK_DIST_CLASSPATH}.
 * Driver logs go to {@code <log dir>/<name>-*}/driver.{out,err}.
 */
public final class SparkSubmitter {
    private final SparkHome sparkHome;
    private final String master;
    private final Path logDir;
    private final Map<String, String> conf = new LinkedHashMap<>();
    private final Map<String, String> env = new LinkedHashMap<>();
    private final List<String> args = new ArrayList<>();
    private String name = "app";
    private String deployMode = "client";
    private String mainClass;
    private Path appJar;
    private String appResource;
    private Path propertiesFile;
    private boolean loadSparkDefaults;

    private SparkSubmitter(SparkHome sparkHome, String master, Path logDir) {
        this.sparkHome = sparkHome;
        this.master = master;
        this.logDir = logDir;
    }

    /**
     * Submits to a standalone cluster, set up for barrier stages that use every slot: the
     * application takes all the cluster's cores ({@code spark.cores.max}) and its first job waits
     * until they are all registered ({@code spark.scheduler.minRegisteredResourcesRatio=1.0};
     * in standalone mode that ratio is measured against {@code spark.cores.max}, so without it
     * the first barrier stage would fail its slot check and retry 15 s later). Override with {@link #conf}.
     */
    public static SparkSubmitter to(StandaloneSparkCluster cluster) {
        return using(cluster.sparkHome(), cluster.masterUrl(), cluster.workDir().resolve("submissions"))
                .conf("spark.cores.max", Integer.toString(cluster.totalCores()))
                .conf("spark.scheduler.minRegisteredResourcesRatio", "1.0");
    }

    /** Submits to any master (e.g. {@code local[2]}, {@code local-cluster[2,1,1024]}) with this Spark home. */
    public static SparkSubmitter using(SparkHome sparkHome, String master, Path logDir) {
        return new SparkSubmitter(sparkHome, master, logDir);
    }

    /** Names the application ({@code --name}) and its log directory. */
    public SparkSubmitter name(String name) {
        this.name = name;
        return this;
    }

    /** {@code --deploy-mode}: {@code client} (the default) or {@code cluster}. */
    public SparkSubmitter deployMode(String deployMode) {
        this.deployMode = deployMode;
        return this;
    }

    public SparkSubmitter mainClass(Class<?> mainClass) {
        return mainClass(mainClass.getName());
    }

    public SparkSubmitter mainClass(String mainClass) {
        this.mainClass = mainClass;
        return this;
    }

    /** The primary resource: a jar with the application's classes (see {@link AppJar}). */
    public SparkSubmitter appJar(Path jar) {
        this.appJar = jar.toAbsolutePath();
        return this;
    }

    /**
     * A primary resource given as a URI that is not a file here, e.g. {@code local:///opt/app.jar} inside
     * a container image; replaces {@link #appJar}.
     */
    public SparkSubmitter appResource(String uri) {
        this.appResource = uri;
        return this;
    }

    /**
     * {@code --properties-file}: Spark then reads this file instead of the Spark home's
     * {@code spark-defaults.conf} (as users pass a deployment's defaults); {@link #conf} still wins.
     */
    public SparkSubmitter propertiesFile(Path file) {
        this.propertiesFile = file.toAbsolutePath();
        return this;
    }

    /**
     * {@code --load-spark-defaults}: with {@link #propertiesFile}, also read the Spark home's
     * {@code spark-defaults.conf} (the harness's JVM flags and log configuration), the properties file
     * winning where both set a key.
     */
    public SparkSubmitter loadSparkDefaults() {
        this.loadSparkDefaults = true;
        return this;
    }

    /** {@code --conf key=value}; a later call for the same key wins. */
    public SparkSubmitter conf(String key, String value) {
        conf.put(key, value);
        return this;
    }

    /** An environment variable for the driver (and, in local-cluster mode, its in-process Workers). */
    public SparkSubmitter env(String key, String value) {
        env.put(key, value);
        return this;
    }

    /** Application arguments, appended after the jar. */
    public SparkSubmitter args(String... appArgs) {
        args.addAll(List.of(appArgs));
        return this;
    }

    /** The full spark-submit command this builder would run. */
    public List<String> command() {
        if (mainClass == null || (appJar == null && appResource == null)) {
            throw new IllegalStateException("Set mainClass(...) and appJar(...) before submitting " + name);
        }
        if (appResource == null && !Files.isRegularFile(appJar)) {
            throw new IllegalStateException("Application jar " + appJar + " does not exist; build it with AppJar");
        }
        List<String> command = new ArrayList<>(List.of(sparkHome.sparkSubmit().toString(), "--master", master,
                "--deploy-mode", deployMode, "--name", name, "--class", mainClass));
        if (propertiesFile != null) {
            command.add("--properties-file");
            command.add(propertiesFile.toString());
        }
        if (loadSparkDefaults) {
            command.add("--load-spark-defaults");
        }
        conf.forEach((k, v) -> {
            command.add("--conf");
            command.add(k + "=" + v);
        });
        command.add(appResource != null ? appResource : appJar.toString());
        command.addAll(args);
        return command;
    }

    /** Starts spark-submit and returns at once; close the result to kill the driver. */
    public SubmittedApplication start() {
        List<String> command = command();
        Path dir;
        try {
            Files.createDirectories(logDir);
            dir = Files.createTempDirectory(logDir, name + "-");
        } catch (IOException e) {
            throw new UncheckedIOException("Could not create a log directory under " + logDir, e);
        }
        ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile());
        sparkHome.applyEnvironment(builder.environment());
        builder.environment().putAll(env);
        long startNanos = System.nanoTime();
        return new SubmittedApplication(ManagedProcess.start("driver", builder, dir), startNanos);
    }

    /** Submits and waits for the driver to exit; kills it at the deadline. */
    public SubmitResult run(Duration timeout) {
        try (SubmittedApplication app = start()) {
            return app.awaitExit(timeout);
        }
    }
}
