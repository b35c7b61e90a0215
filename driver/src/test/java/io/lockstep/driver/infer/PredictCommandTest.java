package io.lockstep.driver.infer;

import io.lockstep.driver.ConsoleCapture;
import io.lockstep.driver.Main;
import io.lockstep.driver.data.DatasetSource;
import io.lockstep.driver.data.LoadedDataset;
import io.lockstep.driver.report.RunOutput;
import io.lockstep.driver.train.ModelFile;
import io.lockstep.driver.train.SharedRuns;
import io.lockstep.worker.data.LabeledRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code lockstep predict} on two local executor threads writes Parquet whose predictions and
 * probabilities equal the model's own output in this JVM, record for record.
 */
class PredictCommandTest {
    private static final Path SUBSET = Path.of("..", "data", "fashion-mnist-small").toAbsolutePath().normalize();

    @Test
    void parquetPredictionsEqualSingleJvmOutput(@TempDir Path dir) throws Exception {
        // Any lenet5 trained on the subset will do: the run the test classes share, rather than one more.
        File modelFile = SharedRuns.twoReplicas().resolve(RunOutput.MODEL).toFile();
        Path predictions = dir.resolve("predictions");
        ConsoleCapture.Result run = ConsoleCapture.stdout(() -> Main.run("predict", "--model-file", modelFile.toString(),
                "--data", SUBSET.toString(), "--out", predictions.toString(), "--master", "local[2]", "--batch-size", "64"));
        assertEquals(0, run.exit(), run.text());

        LoadedDataset data = DatasetSource.open(SUBSET.toString(), new Configuration());
        assertTrue(run.text().contains("wrote " + data.test().size() + " predictions"), run.text());
        List<Group> rows = new ArrayList<>();
        int partsWithRows = 0;
        try (var parts = Files.list(predictions)) {
            for (Path part : parts.filter(p -> p.getFileName().toString().endsWith(".parquet")).sorted().toList()) {
                int before = rows.size();
                try (ParquetReader<Group> reader = ParquetReader.builder(new GroupReadSupport(),
                        new org.apache.hadoop.fs.Path(part.toUri())).build()) {
                    for (Group row = reader.read(); row != null; row = reader.read()) {
                        rows.add(row);
                    }
                }
                partsWithRows += rows.size() > before ? 1 : 0;
            }
        }
        assertEquals(data.test().size(), rows.size());
        // The test split is one gzipped file, read as one unit: predict must still spread it over both cores.
        assertTrue(partsWithRows >= 2, "predicted by several tasks: " + partsWithRows + " part(s) hold rows");

        ComputationGraph graph = ModelFile.readGraph(modelFile);
        ModelFile.Info info = ModelFile.readInfo(modelFile);
        Group[] byIndex = new Group[data.test().size()];
        for (Group row : rows) {
            byIndex[Integer.parseInt(row.getString("id", 0).substring("test:".length()))] = row;
        }
        LoadedDataset decoding = data.withTransform(info.transform());
        for (int from = 0; from < byIndex.length; from += 500) {
            List<LabeledRecord> records = data.test().subList(from, Math.min(byIndex.length, from + 500));
            INDArray expected = graph.outputSingle(false, decoding.decoder().decode(records, false, 0, 0, 0, -1).getFeatures());
            for (int i = 0; i < records.size(); i++) {
                Group row = byIndex[from + i];
                assertEquals(records.get(i).label(), row.getInteger("label", 0));
                assertEquals(expected.getRow(i).argMax().getInt(0), row.getInteger("predicted", 0), "record " + (from + i));
                assertEquals(info.classNames().get(row.getInteger("predicted", 0)), row.getString("predicted_class", 0));
                Group probabilities = row.getGroup("probabilities", 0);
                assertEquals(info.classNames().size(), probabilities.getFieldRepetitionCount("list"));
                for (int c = 0; c < info.classNames().size(); c++) {
                    assertEquals(expected.getFloat(i, c), probabilities.getGroup("list", c).getFloat("element", 0), 1e-5f,
                            "record " + (from + i) + ", class " + c);
                }
            }
        }
    }

    /**
     * Inference commands list the inference options (one definition, shared by predict and evaluate)
     * and the dataset reading options, but none of training's augmentation flags, which would do nothing
     * there; train still lists them.
     */
    @Test
    void inferenceHelpListsInferenceOptionsAndNoAugmentation() {
        List<String> augmentation = List.of("--crop-padding", "--hflip", "--random-resized-crop", "--resized-crop-min-scale");
        for (String command : List.of("predict", "evaluate")) {
            ConsoleCapture.Result help = ConsoleCapture.stdout(() -> Main.run(command, "--help"));
            assertEquals(0, help.exit(), help.text());
            for (String option : List.of("--model-file", "--data", "--batch-size", "--master", "--normalize", "--image-size")) {
                assertTrue(help.text().contains(option), command + " --help lists " + option + ":\n" + help.text());
            }
            for (String option : augmentation) {
                assertFalse(help.text().contains(option), command + " --help does not list " + option + ":\n" + help.text());
            }
        }
        ConsoleCapture.Result predict = ConsoleCapture.stdout(() -> Main.run("predict", "--help"));
        assertTrue(predict.text().contains("--out") && predict.text().contains("--split"), predict.text());
        ConsoleCapture.Result train = ConsoleCapture.stdout(() -> Main.run("train", "--help"));
        for (String option : augmentation) {
            assertTrue(train.text().contains(option), "train --help lists " + option + ":\n" + train.text());
        }
    }
}
