package io.lockstep.it;

import io.lockstep.it.harness.ManagedProcess;
import io.lockstep.it.harness.TestRuntime;
import io.lockstep.worker.train.CheckpointStore;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** What the end-to-end tests share: the shipped data, the submit jar, and reading a run's results. */
final class Lockstep {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final Path SUBSET = ROOT.resolve("data/fashion-mnist-small");
    static final Path SUBMIT_JAR = ROOT.resolve("driver/target/lockstep-driver-0.1.0-SNAPSHOT-submit.jar");
    static final String MAIN = "io.lockstep.driver.Main";

    private Lockstep() {
    }

    static Path submitJar() {
        if (!Files.isRegularFile(SUBMIT_JAR)) {
            throw new IllegalStateException(SUBMIT_JAR + " is missing: the driver module's package phase builds it (mvn verify from the root)");
        }
        return SUBMIT_JAR;
    }

    /**
     * The submit jar as a {@code local:} URI, the way a deployment whose hosts already hold the jar
     * names it: every YARN container of these tests runs on this host, so spark-submit does not upload
     * the jar (175 MB) to HDFS for YARN to localize into the containers.
     */
    static String submitJarOnEveryHost() {
        return "local:" + submitJar();
    }

    /** Parameters of the final model.zip of a run. */
    static float[] finalParameters(Path out) {
        try {
            ComputationGraph graph = ModelSerializer.restoreComputationGraph(out.resolve("model.zip").toFile(), false);
            return graph.params().toFloatVector();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the model of " + out, e);
        }
    }

    static List<CheckpointStore.Checkpoint> checkpoints(Path checkpointDir) {
        if (!Files.isDirectory(checkpointDir)) {
            return List.of();
        }
        return new CheckpointStore(checkpointDir.toUri().toString(), new Configuration()).list();
    }

    static double maxAbsDifference(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("parameter counts differ: " + a.length + " vs " + b.length);
        }
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }

    /** A `lockstep` command as its own JVM (the driver of a local-mode job), as bin/lockstep runs it. */
    static List<String> driverCommand(String... args) {
        List<String> command = new ArrayList<>();
        command.add(TestRuntime.javaExecutable().toString());
        command.add("-Xmx3g");
        command.addAll(TestRuntime.jvmFlags());
        command.add("-cp");
        command.add(TestRuntime.classpathString());
        command.add(MAIN);
        command.addAll(List.of(args));
        return command;
    }

    static String describe(ManagedProcess process) {
        return process.describe();
    }
}
