package io.lockstep.it.harness;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * What the test JVM hands down to the JVMs the harness starts: its classpath, the project's JVM
 * flags, the java executable, and a directory for their work files and logs.
 */
public final class TestRuntime {
    /** System property with the parent pom's {@code lockstep.jvm.flags} (set by surefire in integration-tests/pom.xml). */
    public static final String JVM_FLAGS_PROPERTY = "lockstep.jvm.flags";
    /** System property naming the directory under which each cluster/HDFS gets its own work dir. */
    public static final String WORK_DIR_PROPERTY = "lockstep.it.workDir";

    private TestRuntime() {
    }

    /**
     * The project's JVM flags (add-opens for Spark/Kryo, Agrona's add-exports, DL4J helpers on).
     *
     * @throws IllegalStateException if the test JVM was not started by the module's surefire configuration
     */
    public static List<String> jvmFlags() {
        String flags = System.getProperty(JVM_FLAGS_PROPERTY);
        if (flags == null || flags.isBlank()) {
            throw new IllegalStateException("System property " + JVM_FLAGS_PROPERTY + " is not set: run the tests through"
                    + " Maven (integration-tests/pom.xml passes it via surefire systemPropertyVariables), or pass"
                    + " -D" + JVM_FLAGS_PROPERTY + "=\"<value of lockstep.jvm.flags in the parent pom>\" to the test JVM");
        }
        return Arrays.stream(flags.trim().split("\\s+")).toList();
    }

    /** The test JVM's classpath entries as absolute paths, in order. */
    public static List<Path> classpath() {
        List<Path> entries = Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .filter(s -> !s.isBlank())
                .map(s -> Path.of(s).toAbsolutePath())
                .toList();
        if (entries.size() == 1 && entries.get(0).getFileName().toString().startsWith("surefirebooter")) {
            throw new IllegalStateException("java.class.path is only surefire's manifest jar " + entries.get(0)
                    + "; the harness needs the real test classpath");
        }
        return entries;
    }

    /** {@link #classpath()} joined with the platform's path separator. */
    public static String classpathString() {
        return String.join(File.pathSeparator, classpath().stream().map(Path::toString).toList());
    }

    /** The java executable of the running JVM, so children run the same JDK. */
    public static Path javaExecutable() {
        return Path.of(System.getProperty("java.home"), "bin", "java");
    }

    /**
     * A fresh directory for one cluster or file system: under {@code target/it-work} when run by
     * Maven (kept after the run so logs can be read), else under the system temp dir.
     */
    public static Path newWorkDir(String prefix) {
        String root = System.getProperty(WORK_DIR_PROPERTY);
        Path rootDir = root != null ? Path.of(root) : Path.of(System.getProperty("java.io.tmpdir"), "lockstep-it");
        try {
            Files.createDirectories(rootDir);
            return Files.createTempDirectory(rootDir.toAbsolutePath(), prefix + "-");
        } catch (IOException e) {
            throw new UncheckedIOException("Could not create a work directory under " + rootDir
                    + " (set -D" + WORK_DIR_PROPERTY + " to a writable directory)", e);
        }
    }
}
