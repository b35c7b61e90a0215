package io.lockstep.driver.cli;

import io.lockstep.driver.train.JobConfig;
import io.lockstep.models.Normalization;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainOptionsTest {

    @AfterEach
    void clearSparkProperties() {
        System.clearProperty("spark.lockstep.batch-size");
        System.clearProperty("spark.lockstep.model");
    }

    private static TrainCommand parse(String... args) {
        TrainCommand command = new TrainCommand();
        CommandLine cli = new CommandLine(command);
        cli.setDefaultValueProvider(OptionSources.fromArgs(args));
        cli.parseArgs(args);
        return command;
    }

    @Test
    void everyInvalidOptionIsReportedInOneMessage() {
        TrainCommand command = parse("--data", "somewhere", "--model", "nosuchnet", "--batch-size", "0",
                "--epochs", "-1", "--optimizer", "rmsprop", "--norm", "group:0");
        UserError error = assertThrows(UserError.class, command::toConfig);
        String message = error.getMessage();
        for (String option : new String[]{"--model", "--batch-size", "--epochs", "--optimizer", "--norm"}) {
            assertTrue(message.contains(option), "message names " + option + ": " + message);
        }
        assertTrue(message.contains("nosuchnet"), message);
    }

    @Test
    void normChoosesTheModelsLayersAndTheGroupCount() {
        assertEquals(Normalization.BATCH, parse("--data", "d", "--norm", "sync-batch").toConfig().modelNormalization());
        assertEquals(Normalization.BATCH, parse("--data", "d", "--norm", "batch").toConfig().modelNormalization());
        assertEquals(Normalization.LAYER, parse("--data", "d", "--norm", "layer").toConfig().modelNormalization());
        assertEquals(Normalization.INSTANCE, parse("--data", "d", "--norm", "instance").toConfig().modelNormalization());
        assertEquals(Normalization.NONE, parse("--data", "d", "--norm", "none").toConfig().modelNormalization());
        JobConfig group = parse("--data", "d", "--norm", "group").toConfig();
        assertEquals(Normalization.GROUP, group.modelNormalization());
        assertEquals(32, group.normGroups());
        JobConfig group8 = parse("--data", "d", "--norm", "group:8").toConfig();
        assertEquals(Normalization.GROUP, group8.modelNormalization());
        assertEquals(8, group8.normGroups());
        for (String bad : new String[]{"group:x", "group:0", "layer:2", "weight"}) {
            UserError error = assertThrows(UserError.class, () -> parse("--data", "d", "--norm", bad).toConfig());
            assertTrue(error.getMessage().contains("--norm: unknown normalization '" + bad + "'; use batch, sync-batch, group"),
                    error.getMessage());
        }
    }

    @Test
    void flagsOverrideSparkPropertiesWhichOverrideTheJobFile(@TempDir Path dir) throws IOException {
        Path jobFile = dir.resolve("job.conf");
        Files.writeString(jobFile, "batch-size = 16\nepochs = 7\nlr = 0.5\n");
        System.setProperty("spark.lockstep.batch-size", "32");

        TrainCommand fromFileAndSpark = parse("--config", jobFile.toString(), "--data", "d");
        assertEquals(32, fromFileAndSpark.batchSize, "spark.lockstep.* beats the job file");
        assertEquals(7, fromFileAndSpark.epochs, "job file beats the default");
        assertEquals(0.5, fromFileAndSpark.learningRate);

        TrainCommand withFlag = parse("--config", jobFile.toString(), "--data", "d", "--batch-size", "8");
        assertEquals(8, withFlag.batchSize, "a flag beats everything");
    }

    @Test
    void syncBatchNormIsTheDefaultOnlyWithSeveralReplicas() {
        JobConfig one = parse("--data", "d").toConfigUnchecked();
        JobConfig four = parse("--data", "d", "--replicas", "4").toConfigUnchecked();
        assertEquals("batch", one.effectiveNorm());
        assertEquals("sync-batch", four.effectiveNorm());
        assertEquals("local[4]", four.effectiveMaster());
        assertTrue(four.effectiveCheckpointDir().endsWith("/checkpoints"));
    }

    @Test
    void missingJobFileIsAClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OptionSources.fromArgs(new String[]{"--config", "/nonexistent/job.conf"}));
        assertTrue(e.getMessage().contains("/nonexistent/job.conf"), e.getMessage());
    }
}
