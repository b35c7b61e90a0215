package io.lockstep.driver.bench;

import io.lockstep.driver.ConsoleCapture;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StepTimeBenchmarkTest {

    private static String run(int expectedExit, String... args) {
        ConsoleCapture.Result result = ConsoleCapture.stdout(() -> new CommandLine(new StepTimeBenchmark()).execute(args));
        if (expectedExit == 0) {
            assertEquals(0, result.exit(), result.text());
        } else {
            assertNotEquals(0, result.exit());
        }
        return result.text();
    }

    @Test
    void measuresTheSynchronizedBatchNormPathWithoutPeers() {
        String out = run(0, "--model", "resnet20", "--input", "1x28x28", "--batch-size", "2", "--warmup-steps", "0",
                "--steps", "2", "--threads", "1", "--norm", "sync-batch");
        assertTrue(out.contains("norm sync-batch"), out);
        assertTrue(out.contains("step time over 2 steps: median"), out);
    }

    @Test
    void measuresAnNhwcBuild() {
        String out = run(0, "--model", "resnet20", "--input", "1x12x12", "--batch-size", "2", "--warmup-steps", "0",
                "--steps", "2", "--threads", "1", "--layout", "nhwc", "--cache-mode", "device");
        // Every one of resnet20's 19 convolutions runs on OneDNN directly, the default for NHWC on the CPU backend.
        assertTrue(out.contains("norm batch, layout nhwc, conv dnnl (19 on OneDNN directly), cache mode device"), out);
        assertTrue(out.contains("step time over 2 steps: median"), out);
    }

    @Test
    void rejectsAnUnknownLayout() {
        run(2, "--model", "resnet20", "--steps", "1", "--warmup-steps", "0", "--batch-size", "2", "--layout", "chwn");
    }

    @Test
    void rejectsAnUnknownNorm() {
        run(1, "--model", "resnet20", "--steps", "1", "--warmup-steps", "0", "--batch-size", "2", "--norm", "group");
    }
}
