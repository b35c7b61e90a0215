package io.lockstep.driver.cli;

import io.lockstep.api.InvalidOptionsException;
import io.lockstep.api.TrainOptions;
import io.lockstep.models.ActivationLayout;
import io.lockstep.models.Normalization;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
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
        InvalidOptionsException error = assertThrows(InvalidOptionsException.class, () -> command.options().validate());
        String message = error.getMessage();
        for (String option : new String[]{"--model", "--batch-size", "--epochs", "--optimizer", "--norm"}) {
            assertTrue(message.contains(option), "message names " + option + ": " + message);
        }
        assertTrue(message.contains("nosuchnet"), message);
    }

    @Test
    void normChoosesTheModelsLayersAndTheGroupCount() {
        assertEquals(Normalization.BATCH, parse("--data", "d", "--norm", "sync-batch").options().validate().modelNormalization());
        assertEquals(Normalization.BATCH, parse("--data", "d", "--norm", "batch").options().validate().modelNormalization());
        assertEquals(Normalization.LAYER, parse("--data", "d", "--norm", "layer").options().validate().modelNormalization());
        assertEquals(Normalization.INSTANCE, parse("--data", "d", "--norm", "instance").options().validate().modelNormalization());
        assertEquals(Normalization.NONE, parse("--data", "d", "--norm", "none").options().validate().modelNormalization());
        TrainOptions group = parse("--data", "d", "--norm", "group").options().validate();
        assertEquals(Normalization.GROUP, group.modelNormalization());
        assertEquals(32, group.normGroups());
        TrainOptions group8 = parse("--data", "d", "--norm", "group:8").options().validate();
        assertEquals(Normalization.GROUP, group8.modelNormalization());
        assertEquals(8, group8.normGroups());
        for (String bad : new String[]{"group:x", "group:0", "layer:2", "weight"}) {
            InvalidOptionsException error = assertThrows(InvalidOptionsException.class,
                    () -> parse("--data", "d", "--norm", bad).options().validate());
            assertTrue(error.getMessage().contains("--norm") && error.getMessage().contains(bad)
                    && error.getMessage().contains("use batch, sync-batch, group, group:G"), error.getMessage());
        }
    }

    @Test
    void flagsOverrideSparkPropertiesWhichOverrideTheJobFile(@TempDir Path dir) throws IOException {
        Path jobFile = dir.resolve("job.conf");
        Files.writeString(jobFile, "batch-size = 16\nepochs = 7\nlr = 0.5\n");
        System.setProperty("spark.lockstep.batch-size", "32");

        TrainCommand fromFileAndSpark = parse("--config", jobFile.toString(), "--data", "d");
        assertEquals(32, (int) fromFileAndSpark.options().get(TrainOptions.BATCH_SIZE), "spark.lockstep.* beats the job file");
        assertEquals(7, (int) fromFileAndSpark.options().get(TrainOptions.EPOCHS), "job file beats the default");
        assertEquals(0.5, fromFileAndSpark.options().get(TrainOptions.LR));

        TrainCommand withFlag = parse("--config", jobFile.toString(), "--data", "d", "--batch-size", "8");
        assertEquals(8, (int) withFlag.options().get(TrainOptions.BATCH_SIZE), "a flag beats everything");
    }

    @Test
    void syncBatchNormIsTheDefaultOnlyWithSeveralReplicas() {
        TrainOptions one = parse("--data", "d").options();
        TrainOptions four = parse("--data", "d", "--replicas", "4").options();
        assertEquals("batch", one.get(TrainOptions.NORM));
        assertEquals("sync-batch", four.get(TrainOptions.NORM));
        assertEquals("local[4]", four.get(TrainOptions.MASTER));
        assertTrue(four.get(TrainOptions.CHECKPOINT_DIR).endsWith("/checkpoints"));
    }

    @Test
    void missingJobFileIsAClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OptionSources.fromArgs(new String[]{"--config", "/nonexistent/job.conf"}));
        assertTrue(e.getMessage().contains("/nonexistent/job.conf"), e.getMessage());
    }

    @Test
    void helpListsEveryOptionOfTheCatalogWithItsUnit() {
        String help = new CommandLine(new TrainCommand()).getUsageMessage();
        for (io.lockstep.api.OptionDef<?> option : TrainOptions.all()) {
            assertTrue(help.contains(option.flag()), "--help lists " + option.flag());
        }
        assertTrue(help.contains("[ms]"), "units are shown: " + help);
    }

    @Test
    void unparseableValuesAreReportedTogetherWithEveryOtherProblem() {
        TrainCommand command = parse("--data", "d", "--epochs", "three", "--batch-size", "0", "--resume",
                "--resume-from", "x");
        InvalidOptionsException error = assertThrows(InvalidOptionsException.class, () -> command.options().validate());
        assertEquals(3, error.problems().size(), error.getMessage());
        assertTrue(error.getMessage().contains("--epochs: expected a whole number, got 'three'"), error.getMessage());
        assertTrue(error.getMessage().contains("--batch-size: must be positive, got 0"), error.getMessage());
        assertTrue(error.getMessage().contains("--resume and --resume-from"), error.getMessage());
    }

    @Test
    void theJavaApiAndSparkPropertiesSetTheSameOptions() {
        TrainOptions fromApi = TrainOptions.defaults().with(TrainOptions.BATCH_SIZE, 16).with(TrainOptions.RESUME, true);
        TrainOptions fromSpark = TrainOptions.fromProperties(java.util.Map.of("spark.lockstep.batch-size", "16",
                "spark.lockstep.resume", "true", "spark.lockstep.image-size", "32", "spark.app.name", "x"), "spark.lockstep.");
        assertEquals(fromApi.asMap(), fromSpark.asMap());
        assertEquals(true, fromSpark.get(TrainOptions.RESUME));
        assertEquals(fromApi.asMap(), parse("--data", "d", "--batch-size", "16", "--resume").options()
                .with(TrainOptions.DATA, null).asMap());
    }

    @Test
    void everyKeyOfTheShippedJobFilesIsAnOption() throws IOException {
        java.util.Set<String> dataOptionNames = new java.util.HashSet<>();
        for (CommandLine.Model.OptionSpec option : new CommandLine(new TrainCommand()).getCommandSpec().options()) {
            dataOptionNames.add(option.longestName().replaceFirst("^--", ""));
        }
        try (var files = Files.list(Path.of("..", "conf"))) {
            for (Path file : files.filter(f -> f.toString().endsWith(".conf")).toList()) {
                java.util.Properties job = new java.util.Properties();
                try (var reader = Files.newBufferedReader(file)) {
                    job.load(reader);
                }
                for (String key : job.stringPropertyNames()) {
                    assertTrue(dataOptionNames.contains(key), file + ": " + key + " is an option of lockstep train");
                }
                TrainOptions options = TrainOptions.defaults();
                for (String key : job.stringPropertyNames()) {
                    if (TrainOptions.named(key) != null) {
                        options = options.withText(key, job.getProperty(key));
                    }
                }
                assertEquals(java.util.List.of(), options.with(TrainOptions.DATA, "d").problems(), file.toString());
            }
        }
    }

    @Test
    void layoutNhwcIsRefusedNamingTheArchitecturesThatHaveIt() {
        List<String> problems = TrainOptions.defaults().with(TrainOptions.MODEL, "vgg11").with(TrainOptions.DATA, "d")
                .with(TrainOptions.LAYOUT, "nhwc").problems();
        assertEquals(1, problems.size(), problems.toString());
        assertTrue(problems.get(0).startsWith("--layout nhwc: vgg11 is built in NCHW only; NHWC is implemented for resnet20, "),
                problems.get(0));
        assertTrue(problems.get(0).contains("resnet18") && problems.get(0).contains("resnet50"), problems.get(0));

        List<String> group = TrainOptions.defaults().with(TrainOptions.MODEL, "resnet20").with(TrainOptions.DATA, "d")
                .with(TrainOptions.LAYOUT, "nhwc").with(TrainOptions.NORM, "group").problems();
        assertEquals(List.of("--layout nhwc works with --norm batch, sync-batch or none, not group; change --norm or use "
                + "--layout nchw"), group);
        assertTrue(TrainOptions.defaults().with(TrainOptions.DATA, "d").with(TrainOptions.CONV_KERNELS, "dnnl").problems().isEmpty(),
                "OneDNN's convolutions run NCHW networks too");
        // The Spark ML params validate against the same lists.
        assertEquals(List.of("auto", "nchw", "nhwc"), TrainOptions.LAYOUT.choices());
        assertEquals(List.of("auto", "dl4j", "dnnl"), TrainOptions.CONV_KERNELS.choices());
        assertEquals(List.of(), TrainOptions.EPOCHS.choices());
        io.lockstep.api.ml.LockstepClassifier classifier = new io.lockstep.api.ml.LockstepClassifier();
        assertTrue((Boolean) classifier.layout().isValid().apply("nhwc") && !(Boolean) classifier.layout().isValid().apply("nhwcx"));
        assertTrue((Boolean) classifier.convKernels().isValid().apply("dnnl")
                && !(Boolean) classifier.convKernels().isValid().apply("cudnn"));
        assertTrue(TrainOptions.defaults().with(TrainOptions.DATA, "d").with(TrainOptions.MODEL, "resnet18")
                .with(TrainOptions.LAYOUT, "nhwc").with(TrainOptions.NORM, "sync-batch").problems().isEmpty());

        List<String> ownNetwork = TrainOptions.defaults().with(TrainOptions.DATA, "d").with(TrainOptions.LAYOUT, "nhwc")
                .problems(java.util.Set.of(TrainOptions.MODEL));
        assertEquals(1, ownNetwork.size(), ownNetwork.toString());
        assertTrue(ownNetwork.get(0).contains("your own network keeps the layout you built it with"), ownNetwork.get(0));

        InvalidOptionsException cli = assertThrows(InvalidOptionsException.class,
                () -> parse("--data", "d", "--model", "lenet5", "--layout", "nhwc").options().validate());
        assertTrue(cli.getMessage().contains("--layout nhwc: lenet5 is built in NCHW only"), cli.getMessage());
    }

    @Test
    void autoLayoutIsNhwcWithOneDnnWhereTheZooBuildsItOnCpusAndTheCheckpointsLayoutOnResume() {
        TrainOptions resnet = TrainOptions.defaults().with(TrainOptions.DATA, "d").with(TrainOptions.MODEL, "resnet20");
        assertTrue(resnet.hasAutomaticChoices());
        assertDecided(decide(resnet, false, false, null, 0), "nhwc", "dnnl");
        assertDecided(decide(resnet.with(TrainOptions.NORM, "sync-batch"), false, false, null, 0), "nhwc", "dnnl");
        assertDecided(decide(resnet.with(TrainOptions.NORM, "group"), false, false, null, SMALL), "nchw", "dnnl");
        assertDecided(decide(resnet, false, true, null, 0), "nchw", "dl4j");
        assertDecided(decide(resnet, true, false, null, 0), "nchw", "dl4j");
        assertDecided(decide(resnet, false, false, ActivationLayout.NCHW, SMALL), "nchw", "dnnl");
        assertDecided(decide(resnet, false, true, ActivationLayout.NHWC, 0), "nhwc", "dl4j");
        // What is set explicitly stays.
        assertDecided(decide(resnet.with(TrainOptions.CONV_KERNELS, "dl4j"), false, false, null, 0), "nhwc", "dl4j");
        assertDecided(decide(resnet.with(TrainOptions.LAYOUT, "nchw"), false, false, ActivationLayout.NHWC, SMALL), "nchw", "dnnl");
        TrainOptions explicit = resnet.with(TrainOptions.LAYOUT, "nchw").with(TrainOptions.CONV_KERNELS, "dl4j");
        assertFalse(explicit.hasAutomaticChoices());
        assertSame(explicit, decide(explicit, false, false, ActivationLayout.NHWC, 0));
        IllegalStateException undecided = assertThrows(IllegalStateException.class, resnet::activationLayout);
        assertTrue(undecided.getMessage().contains("--layout auto"), undecided.getMessage());
        assertThrows(IllegalStateException.class, () -> resnet.withAutomaticConvKernels(false, false, 0));
    }

    @Test
    void autoConvKernelsAreOneDnnForNchwZooModelsWhileTheirConversionBuffersStayUnderTheLimit() {
        TrainOptions lenet = TrainOptions.defaults().with(TrainOptions.DATA, "d").with(TrainOptions.MODEL, "lenet5");
        long limit = TrainOptions.AUTO_NCHW_CONVERSION_LIMIT;
        assertDecided(decide(lenet, false, false, null, SMALL), "nchw", "dnnl");
        assertDecided(decide(lenet, false, false, null, limit), "nchw", "dnnl");
        assertDecided(decide(lenet, false, false, null, limit + 1), "nchw", "dl4j");
        assertDecided(decide(lenet, true, false, null, SMALL), "nchw", "dl4j");
        assertDecided(decide(lenet, false, true, null, SMALL), "nchw", "dl4j");
        assertTrue(TrainOptions.CONV_KERNELS.doc().contains((limit >> 20) + " MB"), TrainOptions.CONV_KERNELS.doc());
    }

    /** Conversion buffers of a small NCHW network (lenet5's at batch 64 are 5.7 MB). */
    private static final long SMALL = 4L << 20;

    private static TrainOptions decide(TrainOptions options, boolean ownNetwork, boolean cudaBuild,
                                       ActivationLayout checkpointLayout, long nchwConversionBytes) {
        return options.withAutomaticLayout(ownNetwork, cudaBuild, checkpointLayout)
                .withAutomaticConvKernels(ownNetwork, cudaBuild, nchwConversionBytes);
    }

    private static void assertDecided(TrainOptions decided, String layout, String kernels) {
        assertEquals(layout, decided.get(TrainOptions.LAYOUT));
        assertEquals(kernels, decided.get(TrainOptions.CONV_KERNELS));
        assertFalse(decided.hasAutomaticChoices());
        assertTrue(decided.problems().isEmpty(), decided.problems().toString());
    }
}
