package io.lockstep.worker.train;

import io.lockstep.models.Normalization;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointStoreTest {
    private static final ModelRecipe RECIPE = new ModelRecipe("resnet20", 10, 1, 28, 28, Normalization.BATCH, 3L,
            Optimizer.ADAM, 0.001, 0);

    private static CheckpointMeta meta(int epochs, int step) {
        return new CheckpointMeta(epochs, step, epochs * 100L + step, 9L, RECIPE, List.of("a", "b"), "batch", Map.of("model", "resnet20"));
    }

    @Test
    void savesParametersOptimizerStateAndMetaAndKeepsTheNewestK(@TempDir Path dir) throws Exception {
        CheckpointStore store = new CheckpointStore(dir.toUri().toString(), new Configuration());
        ComputationGraph graph = RECIPE.build();
        org.nd4j.linalg.dataset.DataSet batch = new org.nd4j.linalg.dataset.DataSet(
                org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 4, 1, 28, 28),
                org.nd4j.linalg.factory.Nd4j.eye(10).getRows(0, 1, 2, 3));
        graph.fit(batch); // Adam now has non-zero moments
        store.save(graph, meta(1, 0), 2);
        store.save(graph, meta(1, 50), 2);
        store.save(graph, meta(2, 0), 2);

        List<CheckpointStore.Checkpoint> all = store.list();
        assertEquals(2, all.size(), "keeps the newest 2");
        CheckpointStore.Checkpoint latest = store.latest().orElseThrow();
        assertEquals(2, latest.epochsCompleted());
        assertEquals(0, latest.stepInEpoch());
        ComputationGraph restored = store.loadModel(latest);
        assertArrayEquals(graph.params().toFloatVector(), restored.params().toFloatVector());
        assertArrayEquals(graph.getUpdater().getStateViewArray().toFloatVector(),
                restored.getUpdater().getStateViewArray().toFloatVector(), "optimizer state survives");
        assertEquals(meta(2, 0), store.loadMeta(latest));
        assertEquals(graph.getConfiguration().toJson(), restored.getConfiguration().toJson());

        // DL4J's archive layout, entries stored rather than deflated (float parameters hardly compress).
        try (java.util.zip.ZipFile zip = new java.util.zip.ZipFile(Path.of(java.net.URI.create(latest.path()))
                .resolve(CheckpointStore.MODEL).toFile())) {
            List<String> names = zip.stream().map(java.util.zip.ZipEntry::getName).toList();
            assertEquals(List.of(ModelSerializer.CONFIGURATION_JSON, ModelSerializer.COEFFICIENTS_BIN,
                    ModelSerializer.UPDATER_BIN), names);
            java.util.zip.ZipEntry parameters = zip.getEntry(ModelSerializer.COEFFICIENTS_BIN);
            assertTrue(parameters.getCompressedSize() >= parameters.getSize(), "stored, not deflated: "
                    + parameters.getCompressedSize() + " of " + parameters.getSize() + " bytes");
        }
    }

    @Test
    void aCrashBetweenWriteAndRenameLeavesThePreviousCheckpointLoadable(@TempDir Path dir) throws Exception {
        CheckpointStore store = new CheckpointStore(dir.toUri().toString(), new Configuration());
        ComputationGraph graph = RECIPE.build();
        store.save(graph, meta(1, 0), 0);
        // What a writer killed before its rename leaves behind: a temporary directory with a partial model.
        Path partial = dir.resolve("_writing-checkpoint-00002-00000000-4c1d");
        Files.createDirectories(partial);
        Files.write(partial.resolve("model.zip"), new byte[]{'P', 'K', 3, 4, 0, 0});

        CheckpointStore.Checkpoint latest = store.latest().orElseThrow();
        assertEquals(1, latest.epochsCompleted(), "the partial checkpoint is ignored");
        assertArrayEquals(graph.params().toFloatVector(), store.loadModel(latest).params().toFloatVector());
        assertEquals(1, store.cleanPartial());
        assertFalse(Files.exists(partial), "the partial write is cleaned up");
    }

    @Test
    void eachReplicasExchangeStateIsCommittedWithTheModelAndReadBackExactly(@TempDir Path dir) {
        CheckpointStore store = new CheckpointStore(dir.toUri().toString(), new Configuration());
        Map<String, float[]> rank0 = Map.of("residual", new float[]{0.25f, -1e-7f, Float.MIN_VALUE}, "threshold", new float[]{3e-3f});
        Map<String, float[]> rank1 = Map.of("residual", new float[]{-0.5f, 0f, 7f}, "threshold", new float[]{2e-3f});
        CheckpointStore.Checkpoint checkpoint = store.save(RECIPE.build(), meta(1, 0), 0, List.of(rank0, rank1));
        for (int rank = 0; rank < 2; rank++) {
            Map<String, float[]> expected = rank == 0 ? rank0 : rank1;
            Map<String, float[]> loaded = store.loadExchangeState(checkpoint, rank);
            assertEquals(expected.keySet(), loaded.keySet());
            for (String key : expected.keySet()) {
                assertArrayEquals(expected.get(key), loaded.get(key), key + " of rank " + rank);
            }
        }
        assertTrue(store.loadExchangeState(checkpoint, 2).isEmpty(), "a rank without state reads nothing");
    }

    @Test
    void anUnwritableDirectoryIsAClearErrorNamingIt(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("not-a-directory");
        Files.writeString(file, "x");
        CheckpointStore store = new CheckpointStore(file.toUri() + "/checkpoints", new Configuration());
        java.io.UncheckedIOException e = assertThrows(java.io.UncheckedIOException.class,
                () -> store.save(RECIPE.build(), meta(1, 0), 0));
        assertTrue(e.getMessage().contains("not-a-directory"), e.getMessage());
        assertTrue(e.getMessage().contains("previous checkpoint is intact"), e.getMessage());
    }
}
