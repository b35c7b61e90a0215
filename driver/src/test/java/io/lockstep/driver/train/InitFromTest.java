package io.lockstep.driver.train;

import io.lockstep.driver.ConsoleCapture;
import io.lockstep.driver.Main;
import io.lockstep.models.InputShape;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.models.Normalization;
import io.lockstep.worker.train.CheckpointStore;
import io.lockstep.worker.train.ModelRecipe;
import io.lockstep.worker.train.Optimizer;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code train --init-from}: the job starts from the file's weights (its first checkpoint holds them bit
 * for bit), {@code --replace-head} trains a new output layer initialized from the job's seed, and a file
 * that does not fit is refused before any stage starts, naming the layer, both shapes and the fix.
 */
class InitFromTest {
    private static final InputShape MNIST = new InputShape(1, 28, 28);
    private static final long SEED = 5;

    @TempDir
    Path dir;

    private Path modelFile(String model, int classes, InputShape input) throws IOException {
        Path file = dir.resolve(model + "-" + classes + ".zip");
        ModelSerializer.writeModel(ModelRegistry.build(model, ModelOptions.of(classes, input).withSeed(99)), file.toFile(), false);
        return file;
    }

    private ConsoleCapture.Result train(String name, String... extra) {
        List<String> args = new ArrayList<>(List.of("train", "--model", "lenet5", "--data", SingleReplicaTrainingTest.SUBSET.toString(),
                "--epochs", "1", "--max-steps-per-epoch", "1", "--seed", String.valueOf(SEED), "--keep-checkpoints", "0",
                "--no-spark-ui", "--out", dir.resolve(name).toString()));
        args.addAll(Arrays.asList(extra));
        return ConsoleCapture.stderr(() -> Main.run(args.toArray(String[]::new)));
    }

    /** The job's first checkpoint: what the first stage started from. */
    private ComputationGraph firstCheckpoint(String name) {
        CheckpointStore store = new CheckpointStore(dir.resolve(name).resolve("checkpoints").toString(), new Configuration());
        return store.loadModel(store.list().get(0));
    }

    @Test
    void theJobStartsFromTheFilesWeights() throws IOException {
        Path file = modelFile("lenet5", 10, MNIST);
        assertEquals(0, train("same", "--init-from", file.toString()).exit());
        ComputationGraph loaded = ModelSerializer.restoreComputationGraph(file.toFile(), false);
        assertEquals(loaded.params(), firstCheckpoint("same").params(), "every parameter as in the file");
    }

    @Test
    void replaceHeadKeepsTheBackboneAndTrainsANewOutputLayerFromTheJobsSeed() throws IOException {
        Path file = modelFile("lenet5", 7, MNIST);
        ConsoleCapture.Result refused = train("refused", "--init-from", file.toString());
        assertEquals(2, refused.exit());
        assertTrue(refused.text().contains("layer 'output' parameter W has shape [500, 7] in the file but [500, 10] in lenet5")
                && refused.text().contains("add --replace-head 10"), refused.text());

        assertEquals(0, train("replaced", "--init-from", file.toString(), "--replace-head", "10").exit());
        ComputationGraph start = firstCheckpoint("replaced");
        ComputationGraph loaded = ModelSerializer.restoreComputationGraph(file.toFile(), false);
        ComputationGraph fresh = new ModelRecipe("lenet5", 10, 1, 28, 28, Normalization.BATCH, SEED, Optimizer.parse("nesterov"),
                0.01, 0.0).build();
        for (String layer : List.of("conv1", "conv2", "fc1")) {
            assertEquals(loaded.getVertex(layer).params(), start.getVertex(layer).params(), layer + " comes from the file");
        }
        assertEquals(fresh.getVertex("output").params(), start.getVertex("output").params(), "the head is initialized from --seed");
        assertNotEquals(loaded.getVertex("fc1").params(), fresh.getVertex("fc1").params(), "the file is not the seed's model");
    }

    @Test
    void aFileOfAnotherArchitectureOrAMismatchedHeadOptionIsRefusedBeforeTraining() throws IOException {
        ConsoleCapture.Result other = train("other", "--init-from", modelFile("resnet20", 10, MNIST).toString());
        assertEquals(2, other.exit());
        assertTrue(other.text().contains("are not in the file") && other.text().contains("give the --model it was trained as"),
                other.text());
        ConsoleCapture.Result shapes = train("shapes", "--init-from", modelFile("simplecnn", 10, MNIST).toString());
        assertEquals(2, shapes.exit());
        assertTrue(shapes.text().contains("layer 'conv1' parameter W has shape [16, 1, 3, 3] in the file but [20, 1, 5, 5] in lenet5")
                && shapes.text().contains("give the --model, input size and --norm it was trained with"), shapes.text());

        ConsoleCapture.Result count = train("count", "--init-from", modelFile("lenet5", 7, MNIST).toString(), "--replace-head", "7");
        assertEquals(2, count.exit());
        assertTrue(count.text().contains("the dataset has 10 classes; give --replace-head 10"), count.text());

        ConsoleCapture.Result alone = train("alone", "--replace-head", "10");
        assertEquals(2, alone.exit());
        assertTrue(alone.text().contains("--replace-head needs --init-from"), alone.text());
    }

    @Test
    void modelsListsTheLayersAndStagesOfAModel() {
        ConsoleCapture.Result listed = ConsoleCapture.stdout(() -> Main.run("models", "--layers", "resnet20"));
        assertEquals(0, listed.exit());
        assertTrue(listed.text().contains("stages: conv1, bn1, layer1, layer2, layer3, output"), listed.text());
        assertTrue(listed.text().contains("layer3_2_bn2") && listed.text().contains("(head)"), listed.text());
    }
}
