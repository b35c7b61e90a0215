package io.lockstep.it.deploy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * deploy/yarn/submit.sh against a stand-in {@code spark-submit} that prints its arguments: the command
 * deploy/yarn/README.md documents (YarnTrainingTest runs what it submits against a real YARN cluster),
 * executor cores = replicas per executor x threads per replica, and the refusals of bad layouts.
 */
class YarnSubmitScriptTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Path SCRIPT = ROOT.resolve("deploy/yarn/submit.sh");
    private static final Path JAR = ROOT.resolve("driver/target/lockstep-driver-0.1.0-SNAPSHOT-submit.jar");

    @TempDir
    Path bin;

    private record Run(int exitCode, List<String> args, String stderr) {
    }

    private Run run(Map<String, String> env, String... args) throws IOException, InterruptedException {
        assertTrue(Files.isRegularFile(JAR), JAR + " is missing: the driver module's package phase builds it");
        Path fake = bin.resolve("spark-submit");
        Files.writeString(fake, "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n", StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(fake, PosixFilePermissions.fromString("rwxr-xr-x"));
        List<String> command = new java.util.ArrayList<>(List.of(SCRIPT.toString()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().keySet().removeIf(k -> k.startsWith("LOCKSTEP_"));
        builder.environment().put("PATH", bin + ":/usr/bin:/bin");
        builder.environment().putAll(env);
        Process process = builder.start();
        assertTrue(process.waitFor(30, TimeUnit.SECONDS), "the script finishes");
        String stdout = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Run(process.exitValue(), stdout.isEmpty() ? List.of() : List.of(stdout.split("\n")),
                new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).trim());
    }

    @Test
    void submitsOneReplicaPerExecutorWithTheDeploymentsDefaults() throws Exception {
        Run run = run(Map.of(), "cluster", "4", "hdfs:///datasets/fashion-mnist", "hdfs:///runs/r20", "--model", "resnet20");
        assertEquals(0, run.exitCode(), run.stderr());
        assertEquals(List.of("--master", "yarn", "--deploy-mode", "cluster", "--name", "lockstep-r20",
                "--properties-file", ROOT.resolve("deploy/yarn/spark-defaults.conf").toString(),
                "--conf", "spark.executor.instances=4", "--conf", "spark.executor.cores=1", "--conf", "spark.task.cpus=1",
                "--class", "io.lockstep.driver.Main", JAR.toString(),
                "train", "--data", "hdfs:///datasets/fashion-mnist", "--out", "hdfs:///runs/r20", "--replicas", "4",
                "--model", "resnet20"), run.args());
    }

    @Test
    void executorCoresAreReplicasPerExecutorTimesThreads() throws Exception {
        Run run = run(Map.of("LOCKSTEP_THREADS", "3", "LOCKSTEP_REPLICAS_PER_EXECUTOR", "2"),
                "client", "4", "hdfs:///d", "hdfs:///runs/x");
        assertEquals(0, run.exitCode(), run.stderr());
        assertTrue(run.args().containsAll(List.of("spark.executor.instances=2", "spark.executor.cores=6", "spark.task.cpus=3")),
                "2 executors of 2 replicas x 3 threads: " + run.args());
    }

    @Test
    void refusesLayoutsThatLeaveSlotsUnfilledOrAreNotNumbers() throws Exception {
        Run uneven = run(Map.of("LOCKSTEP_REPLICAS_PER_EXECUTOR", "2"), "client", "3", "hdfs:///d", "hdfs:///runs/x");
        assertEquals(2, uneven.exitCode());
        assertTrue(uneven.stderr().contains("make REPLICAS a multiple of LOCKSTEP_REPLICAS_PER_EXECUTOR"), uneven.stderr());
        Run notANumber = run(Map.of("LOCKSTEP_THREADS", "four"), "client", "4", "hdfs:///d", "hdfs:///runs/x");
        assertEquals(2, notANumber.exitCode());
        assertTrue(notANumber.stderr().contains("got 'four'"), notANumber.stderr());
        Run tooFewArguments = run(Map.of(), "client", "4");
        assertEquals(2, tooFewArguments.exitCode());
        assertTrue(tooFewArguments.stderr().contains("Usage:"), tooFewArguments.stderr());
    }
}
