package io.lockstep.it.harness;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;

/**
 * A Spark "installation" made of the Maven test classpath, for daemons, {@code spark-submit},
 * {@code SparkLauncher} and {@code local-cluster} masters, with no Spark tarball.
 *
 * <p>Layout under {@link #path()}: an empty {@code jars/} (Spark's launcher and Workers require
 * it; the jars come from {@code SPARK_DIST_CLASSPATH} instead, keeping Maven's order);
 * {@code conf/spark-defaults.conf} (driver and executor {@code defaultJavaOptions} carry the
 * project's JVM flags and the harness log configuration; the driver UI is off); {@code conf/log4j2-harness.properties}
 * (INFO to stderr: the harness parses daemon logs, and the test classpath's log4j2-test.properties
 * would otherwise win); {@code lib/orphan-guard-agent.jar} ({@link OrphanGuard} as a Java agent in the
 * driver's options, so drivers die with the test JVM); and {@code bin/spark-class}, {@code bin/spark-submit}, which run Spark's own
 * launcher ({@code org.apache.spark.launcher.Main}) exactly as Spark's scripts do.
 *
 * <p>Every process must run with {@link #environment()}: without {@code SPARK_SCALA_VERSION} a
 * Worker cannot build an executor command ("Cannot find any build directories") and the driver
 * retries forever. Immutable once created.
 */
public final class SparkHome {
    /** Scala binary version of spark-core on the test classpath. */
    public static final String SCALA_BINARY_VERSION = "2.13";
    /** All harness processes bind to loopback only. */
    public static final String LOOPBACK = "127.0.0.1";
    private static final String LOG_CONFIG = "log4j2-harness.properties";
    /** Variables from the test JVM's environment that would change what Spark loads. */
    private static final List<String> INHERITED_VARIABLES_TO_DROP = List.of("HADOOP_CONF_DIR", "YARN_CONF_DIR",
            "SPARK_CLASSPATH", "SPARK_PREPEND_CLASSES", "SPARK_TESTING", "SPARK_LOG_DIR", "SPARK_DAEMON_JAVA_OPTS",
            "SPARK_SUBMIT_OPTS", "SPARK_DRIVER_MEMORY", "SPARK_LOCAL_HOSTNAME", "SPARK_USER", "SPARK_MASTER_OPTS",
            "SPARK_WORKER_OPTS", "SPARK_WORKER_DIR", "SPARK_LOCAL_DIRS", "PYSPARK_PYTHON");

    private final Path home;
    private final String classpath;
    private final List<String> jvmFlags;

    private SparkHome(Path home, String classpath, List<String> jvmFlags) {
        this.home = home;
        this.classpath = classpath;
        this.jvmFlags = List.copyOf(jvmFlags);
    }

    /** Creates the installation in {@code dir} from the test JVM's classpath and {@link TestRuntime#jvmFlags()}. */
    public static SparkHome create(Path dir) {
        return create(dir, TestRuntime.classpathString(), TestRuntime.jvmFlags());
    }

    /**
     * @param dir      empty or missing directory that becomes SPARK_HOME
     * @param classpath every jar and class directory Spark processes need (Spark, Hadoop, the application)
     * @param jvmFlags flags for drivers and executors (module opens, exports, system properties)
     */
    public static SparkHome create(Path dir, String classpath, List<String> jvmFlags) {
        Path home = dir.toAbsolutePath();
        SparkHome sparkHome = new SparkHome(home, classpath, jvmFlags);
        try {
            Files.createDirectories(home.resolve("jars"));
            Files.createDirectories(home.resolve("conf"));
            Files.createDirectories(home.resolve("bin"));
            Files.createDirectories(sparkHome.localDirs());
            sparkHome.writeLogConfig();
            sparkHome.writeOrphanGuardAgent();
            sparkHome.writeSparkDefaults();
            sparkHome.writeScript("spark-class", sparkHome.sparkClassScript());
            sparkHome.writeScript("spark-submit", "#!/usr/bin/env bash\n"
                    + "# Written by " + SparkHome.class.getName() + ": like Spark's bin/spark-submit.\n"
                    + "exec \"$(dirname \"$0\")/spark-class\" org.apache.spark.deploy.SparkSubmit \"$@\"\n");
        } catch (IOException e) {
            throw new UncheckedIOException("Could not create the Spark home " + home, e);
        }
        return sparkHome;
    }

    public Path path() {
        return home;
    }

    /** {@code bin/spark-submit}: runs SparkSubmit through Spark's launcher, as a user's spark-submit does. */
    public Path sparkSubmit() {
        return home.resolve("bin").resolve("spark-submit");
    }

    /** The log4j2 configuration every harness-started Spark JVM uses (INFO to stderr). */
    public Path logConfig() {
        return home.resolve("conf").resolve(LOG_CONFIG);
    }

    /** Classpath of every Spark JVM started from this home (daemons, drivers, executors). */
    public String classpath() {
        return classpath;
    }

    public List<String> jvmFlags() {
        return jvmFlags;
    }

    /**
     * Sets the variables every process of this installation needs and drops inherited ones that
     * would change what Spark loads.
     */
    public void applyEnvironment(Map<String, String> env) {
        INHERITED_VARIABLES_TO_DROP.forEach(env::remove);
        env.put("SPARK_HOME", home.toString());
        env.put("SPARK_CONF_DIR", home.resolve("conf").toString());
        env.put("SPARK_SCALA_VERSION", SCALA_BINARY_VERSION);
        env.put("SPARK_DIST_CLASSPATH", classpath);
        env.put("SPARK_LOCAL_IP", LOOPBACK);
        // Scratch space of drivers, Workers and executors: under the work dir, not /tmp, so a
        // SIGKILLed process leaves nothing behind outside target/.
        env.put("SPARK_LOCAL_DIRS", localDirs().toString());
        env.put("JAVA_HOME", System.getProperty("java.home"));
    }

    /** The variables of {@link #applyEnvironment(Map)} (for APIs that only add, like SparkLauncher). */
    public Map<String, String> environment() {
        Map<String, String> env = new java.util.HashMap<>();
        applyEnvironment(env);
        return env;
    }

    /**
     * Command line of a JVM running {@code mainClass} on this installation's classpath, wrapped in
     * {@link OrphanGuard} so it dies with the test JVM.
     *
     * @param heapMb     maximum heap in MiB
     * @param extraFlags JVM flags added after the project's flags
     */
    public List<String> guardedJavaCommand(String mainClass, int heapMb, List<String> extraFlags, List<String> args) {
        List<String> command = new ArrayList<>();
        command.add(TestRuntime.javaExecutable().toString());
        command.add("-Xmx" + heapMb + "m");
        command.addAll(jvmFlags);
        command.add("-Dlog4j2.configurationFile=" + logConfig().toUri());
        command.addAll(extraFlags);
        command.add("-cp");
        command.add(classpath);
        command.add(OrphanGuard.class.getName());
        command.add(Long.toString(ProcessHandle.current().pid()));
        command.add(mainClass);
        command.addAll(args);
        return command;
    }

    private String javaOptions() {
        return "-Dlog4j2.configurationFile=" + logConfig().toUri() + " " + String.join(" ", jvmFlags);
    }

    /** Scratch space (SPARK_LOCAL_DIRS) of every process of this installation. */
    public Path localDirs() {
        return home.resolve("local-dirs");
    }

    /** {@code lib/orphan-guard-agent.jar}: {@link OrphanGuard} as a Java agent, for drivers. */
    private Path orphanGuardAgent() {
        return home.resolve("lib").resolve("orphan-guard-agent.jar");
    }

    private void writeOrphanGuardAgent() throws IOException {
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        manifest.getMainAttributes().putValue("Premain-Class", OrphanGuard.class.getName());
        String entry = OrphanGuard.class.getName().replace('.', '/') + ".class";
        Files.createDirectories(orphanGuardAgent().getParent());
        try (InputStream classBytes = OrphanGuard.class.getClassLoader().getResourceAsStream(entry);
             JarOutputStream jar = new JarOutputStream(Files.newOutputStream(orphanGuardAgent()), manifest)) {
            if (classBytes == null) {
                throw new IOException("Cannot read " + entry + " from the test classpath");
            }
            jar.putNextEntry(new JarEntry(entry));
            classBytes.transferTo(jar);
            jar.closeEntry();
        }
    }

    private void writeSparkDefaults() throws IOException {
        Properties defaults = new Properties();
        // defaultJavaOptions are prepended to extraJavaOptions, so a test can still set the latter freely.
        // A driver dies with the test JVM that submitted it (its executors follow when it disconnects).
        defaults.setProperty("spark.driver.defaultJavaOptions", javaOptions() + " -javaagent:" + orphanGuardAgent()
                + "=" + ProcessHandle.current().pid());
        defaults.setProperty("spark.executor.defaultJavaOptions", javaOptions());
        defaults.setProperty("spark.ui.enabled", "false");
        defaults.setProperty("spark.ui.showConsoleProgress", "false");
        try (OutputStream out = Files.newOutputStream(home.resolve("conf").resolve("spark-defaults.conf"))) {
            defaults.store(out, "Written by " + SparkHome.class.getName());
        }
    }

    private void writeLogConfig() throws IOException {
        String config = String.join("\n",
                "# Written by " + SparkHome.class.getName() + ". The harness reads the Master's and Workers'",
                "# INFO lines (bound ports, registration), so keep org.apache.spark.deploy and Utils at INFO.",
                "status = warn",
                "appender.stderr.type = Console",
                "appender.stderr.name = stderr",
                "appender.stderr.target = SYSTEM_ERR",
                "appender.stderr.layout.type = PatternLayout",
                "appender.stderr.layout.pattern = %d{HH:mm:ss.SSS} %-5p [%t] %c{1}: %m%n%ex",
                "rootLogger.level = info",
                "rootLogger.appenderRef.stderr.ref = stderr",
                "logger.jetty.name = org.sparkproject.jetty",
                "logger.jetty.level = warn",
                "logger.eclipsejetty.name = org.eclipse.jetty",
                "logger.eclipsejetty.level = warn",
                "logger.hadoop.name = org.apache.hadoop",
                "logger.hadoop.level = warn",
                "logger.security.name = org.apache.spark.SecurityManager",
                "logger.security.level = warn",
                "logger.resources.name = org.apache.spark.resource",
                "logger.resources.level = warn",
                "");
        Files.writeString(logConfig(), config, StandardCharsets.UTF_8);
    }

    /** Spark's bin/spark-class protocol: the launcher prints "\0\n" then the command, NUL-separated, then its exit code. */
    private String sparkClassScript() {
        return String.join("\n",
                "#!/usr/bin/env bash",
                "# Written by " + SparkHome.class.getName() + ": like Spark's bin/spark-class, for a Spark",
                "# 'installation' whose jars come from SPARK_DIST_CLASSPATH (jars/ is empty).",
                "if [ -z \"${SPARK_HOME:-}\" ]; then export SPARK_HOME=" + shellQuote(home.toString()) + "; fi",
                "export SPARK_SCALA_VERSION=\"${SPARK_SCALA_VERSION:-" + SCALA_BINARY_VERSION + "}\"",
                "if [ -z \"${SPARK_DIST_CLASSPATH:-}\" ]; then",
                "  echo 'SPARK_DIST_CLASSPATH is not set: run this script with SparkHome.environment()' >&2",
                "  exit 1",
                "fi",
                "RUNNER=" + shellQuote(TestRuntime.javaExecutable().toString()),
                "LAUNCH_CLASSPATH=" + shellQuote(launcherJar().toString()),
                "build_command() {",
                "  \"$RUNNER\" -Xmx128m -cp \"$LAUNCH_CLASSPATH\" org.apache.spark.launcher.Main \"$@\"",
                "  printf \"%d\\0\" $?",
                "}",
                "set +o posix",
                "CMD=()",
                "DELIM=$'\\n'",
                "CMD_START_FLAG=false",
                "while IFS= read -d \"$DELIM\" -r _ARG; do",
                "  ARG=${_ARG//$'\\r'}",
                "  if [ \"$CMD_START_FLAG\" == true ]; then",
                "    CMD+=(\"$ARG\")",
                "  elif [ \"$ARG\" == $'\\0' ]; then",
                "    DELIM=''",
                "    CMD_START_FLAG=true",
                "  elif [ \"$ARG\" != '' ]; then",
                "    echo \"$ARG\"",
                "  fi",
                "done < <(build_command \"$@\")",
                "COUNT=${#CMD[@]}",
                "LAST=$((COUNT - 1))",
                "LAUNCHER_EXIT_CODE=${CMD[$LAST]}",
                "if ! [[ $LAUNCHER_EXIT_CODE =~ ^[0-9]+$ ]]; then",
                "  echo \"${CMD[@]}\" | head -n-1 1>&2",
                "  exit 1",
                "fi",
                "if [ \"$LAUNCHER_EXIT_CODE\" != 0 ]; then",
                "  exit \"$LAUNCHER_EXIT_CODE\"",
                "fi",
                "CMD=(\"${CMD[@]:0:$LAST}\")",
                "exec \"${CMD[@]}\"",
                "");
    }

    private void writeScript(String name, String text) throws IOException {
        Path script = home.resolve("bin").resolve(name);
        Files.writeString(script, text, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    private static Path launcherJar() {
        try {
            return Path.of(org.apache.spark.launcher.SparkLauncher.class.getProtectionDomain().getCodeSource()
                    .getLocation().toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("Cannot locate the spark-launcher jar on the test classpath", e);
        }
    }

    private static String shellQuote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    @Override
    public String toString() {
        return "SparkHome(" + home + ")";
    }
}
