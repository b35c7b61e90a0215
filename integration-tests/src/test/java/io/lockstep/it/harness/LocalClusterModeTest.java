package io.lockstep.it.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.lockstep.it.harness.apps.BarrierProbeApp;
import io.lockstep.it.harness.apps.ProbeResult;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.spark.launcher.SparkLauncher;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code local-cluster[2,1,1024]} (Master and Workers inside the driver JVM, executors as separate
 * JVMs) launched through Spark's own {@link SparkLauncher} against a {@link SparkHome}.
 */
class LocalClusterModeTest {
    private static final Logger LOG = LoggerFactory.getLogger(LocalClusterModeTest.class);

    @Test
    void sparkLauncherRunsABarrierStageOnLocalClusterExecutors() throws IOException {
        Path workDir = TestRuntime.newWorkDir("local-cluster");
        SparkHome home = SparkHome.create(workDir.resolve("spark-home"));
        Path jar = AppJar.containing(BarrierProbeApp.class, workDir.resolve("barrier-probe.jar"));
        Path resultFile = workDir.resolve("result.txt");
        Path stdout = workDir.resolve("driver.out");
        Path stderr = workDir.resolve("driver.err");
        long startNanos = System.nanoTime();
        Process process = new SparkLauncher(home.environment())
                .setSparkHome(home.path().toString())
                .setMaster("local-cluster[2,1,1024]")
                .setAppResource(jar.toString())
                .setMainClass(BarrierProbeApp.class.getName())
                .setConf("spark.scheduler.minRegisteredResourcesRatio", "1.0")
                .setConf("spark.cores.max", "2")
                .addAppArgs("--result", resultFile.toString(), "--tasks", "2")
                .redirectOutput(stdout.toFile())
                .redirectError(stderr.toFile())
                .launch();
        try (ManagedProcess driver = ManagedProcess.adopt("local-cluster-driver", process, stdout, stderr)) {
            int exitCode = driver.awaitExit(Duration.ofMinutes(3));
            LOG.info("MEASURED SparkLauncher local-cluster[2,1,1024] barrier app: {} ms",
                    (System.nanoTime() - startNanos) / 1_000_000);
            assertEquals(0, exitCode, driver::describe);
        }
        ProbeResult result = ProbeResult.read(resultFile);
        assertTrue(result.succeeded(), result::toString);
        assertEquals(2, result.tasks().size(), result::toString);
        long pid0 = result.tasks().get(0).pid();
        long pid1 = result.tasks().get(1).pid();
        assertNotEquals(pid0, pid1, "both tasks in one JVM: " + result);
        assertNotEquals(process.pid(), pid0, "task ran in the driver JVM: " + result);
        assertNotEquals(process.pid(), pid1, "task ran in the driver JVM: " + result);
        for (ProbeResult.Task task : result.tasks()) {
            assertEquals(java.util.List.of("p0@" + pid0, "p1@" + pid1), task.gathered());
        }
    }
}
