package io.lockstep.it.deploy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * deploy/gpu/getGpusResources.sh against a stand-in {@code nvidia-smi} (this machine has no GPU): the
 * JSON Spark parses, isolation through CUDA_VISIBLE_DEVICES, and the failures a host without GPUs gives.
 */
class GpuDiscoveryScriptTest {
    private static final Path SCRIPT = Path.of("..").toAbsolutePath().normalize().resolve("deploy/gpu/getGpusResources.sh");

    @TempDir
    Path bin;

    private record Run(int exitCode, String stdout, String stderr) {
    }

    private Run run(String fakeNvidiaSmiOutput, Map<String, String> env) throws IOException, InterruptedException {
        if (fakeNvidiaSmiOutput != null) {
            Path fake = bin.resolve("nvidia-smi");
            Files.writeString(fake, "#!/bin/sh\nprintf '" + fakeNvidiaSmiOutput + "'\n", StandardCharsets.UTF_8);
            Files.setPosixFilePermissions(fake, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        ProcessBuilder builder = new ProcessBuilder(SCRIPT.toString());
        builder.environment().remove("CUDA_VISIBLE_DEVICES");
        builder.environment().put("PATH", bin + ":/usr/bin:/bin");
        builder.environment().putAll(env);
        Process process = builder.start();
        assertTrue(process.waitFor(30, TimeUnit.SECONDS), "the script finishes");
        return new Run(process.exitValue(), new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim(),
                new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).trim());
    }

    @Test
    void reportsEveryGpuOfTheHostAsSparkResourceJson() throws Exception {
        Run run = run("0\n1\n 2\n", Map.of());
        assertEquals(0, run.exitCode(), run.stderr());
        assertEquals("{\"name\": \"gpu\", \"addresses\": [\"0\", \"1\", \"2\"]}", run.stdout());
    }

    @Test
    void reportsCudaNumberingOfTheGpusAContainerWasGiven() throws Exception {
        Run run = run("0\n1\n2\n3\n", Map.of("CUDA_VISIBLE_DEVICES", "2,3"));
        assertEquals("{\"name\": \"gpu\", \"addresses\": [\"0\", \"1\"]}", run.stdout());
    }

    @Test
    void aHostWithoutDriverOrGpuFailsNamingTheCause() throws Exception {
        Run noDriver = run(null, Map.of());
        assertEquals(1, noDriver.exitCode());
        assertTrue(noDriver.stderr().contains("nvidia-smi not found"), noDriver.stderr());
        Run noGpu = run("", Map.of());
        assertEquals(1, noGpu.exitCode());
        assertTrue(noGpu.stderr().contains("no GPU found"), noGpu.stderr());
    }
}
