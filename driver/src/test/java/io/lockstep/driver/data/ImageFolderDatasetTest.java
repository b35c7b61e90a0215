package io.lockstep.driver.data;

import io.lockstep.models.InputShape;
import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.Normalizer;
import io.lockstep.worker.data.SkippedRecord;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.dataset.DataSet;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static io.lockstep.driver.data.TestDatasets.encode;
import static io.lockstep.driver.data.TestDatasets.textured;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageFolderDatasetTest {
    private static final Configuration CONF = new Configuration();
    private static final DatasetOptions SIZE_10 = DatasetOptions.defaults().withImageSize(10, 10);

    @TempDir
    Path root;

    private LoadedDataset open(DatasetOptions options) {
        return DatasetSource.open(root.toString(), CONF, options);
    }

    private String failure(DatasetOptions options) {
        return assertThrows(DatasetException.class, () -> open(options)).getMessage();
    }

    private static void assertMentions(String message, String... parts) {
        for (String part : parts) {
            assertTrue(message.contains(part), "message should mention '" + part + "': " + message);
        }
    }

    @Test
    void trainAndValFoldersWithMixedFormatsSizesAndChannels() throws IOException {
        TestDatasets.imageFolder(root);
        LoadedDataset dataset = open(SIZE_10);
        assertEquals("image-folder", dataset.format());
        assertEquals(List.of("bird", "cat", "dog"), dataset.classNames());
        assertArrayEquals(new int[]{3, 6, 4}, dataset.classCounts(false));
        assertArrayEquals(new int[]{0, 1, 1}, dataset.classCounts(true));
        assertEquals(new InputShape(3, 10, 10), dataset.shape(), "3 channels because some images are in color");
        assertEquals(Map.of("16x16", 3, "20x16", 5, "12x12", 2, "24x24", 4, "8x8", 1), dataset.survey().sizes(), "train and val");
        assertEquals(Map.of(1, 3, 3, 12), dataset.survey().channels());
        assertEquals(Map.of("jpeg", 6, "png", 9), dataset.survey().formats());
        assertTrue(dataset.train().stream().anyMatch(r -> r.source().equals("train/cat/gray/g1.JPG")), "nested folders and upper-case extensions");
        for (LabeledRecord r : dataset.train()) {
            assertEquals(dataset.classNames().get(r.label()), r.source().split("/")[1]);
        }

        DataSet batch = dataset.decoder().decode(dataset.train(), true, 1, 0, 0, 0);
        assertArrayEquals(new long[]{13, 3, 10, 10}, batch.getFeatures().shape());
        assertArrayEquals(dataset.train().stream().mapToInt(LabeledRecord::label).toArray(), batch.getLabels().argMax(1).toIntVector());

        LoadedDataset grayscale = open(SIZE_10.withChannels(1));
        assertEquals(new InputShape(1, 10, 10), grayscale.shape());
    }

    @Test
    void mixedSizesNeedImageSizeAndCommonSizeIsTheDefault() throws IOException {
        TestDatasets.imageFolder(root);
        assertMentions(failure(DatasetOptions.defaults()), "--image-size", "different sizes", "20x16 (5)");

        Path uniform = root.resolve("uniform");
        for (String c : List.of("x", "y")) {
            for (int i = 0; i < 12; i++) {
                TestDatasets.write(uniform.resolve(c + "/" + i + ".png"), encode(textured(6, 5, i, true), "png"));
            }
        }
        LoadedDataset dataset = DatasetSource.open(uniform.toString(), CONF, DatasetOptions.defaults().withValFraction(0.3));
        assertEquals(new InputShape(1, 5, 6), dataset.shape(), "common size, grayscale: 1 channel");
    }

    @Test
    void withoutSplitFoldersAStableHashSplitHoldsOutAboutTheFraction() throws IOException {
        for (String c : List.of("a", "b")) {
            for (int i = 0; i < 100; i++) {
                TestDatasets.write(root.resolve(c + "/img" + i + ".png"), encode(textured(4, 4, i, true), "png"));
            }
        }
        DatasetOptions options = DatasetOptions.defaults().withValFraction(0.25);
        LoadedDataset first = open(options);
        LoadedDataset second = open(options);
        assertEquals(200, first.train().size() + first.test().size());
        assertTrue(first.test().size() > 25 && first.test().size() < 75, "about a quarter held out, got " + first.test().size());
        assertEquals(first.test().stream().map(LabeledRecord::source).toList(), second.test().stream().map(LabeledRecord::source).toList());
        for (LabeledRecord r : first.test()) {
            assertTrue(ImageFolderDataset.heldOut(r.source(), 0.25));
        }
        // Adding files moves no existing file between splits.
        TestDatasets.write(root.resolve("a/new.png"), encode(textured(4, 4, 999, true), "png"));
        LoadedDataset third = open(options);
        assertTrue(third.test().stream().map(LabeledRecord::source).toList()
                .containsAll(first.test().stream().map(LabeledRecord::source).toList()));
    }

    @Test
    void corruptAndTruncatedImagesFailNamingTheFileOrAreSkipped() throws IOException {
        TestDatasets.imageFolder(root);
        TestDatasets.write(root.resolve("train/cat/broken.jpg"), TestDatasets.truncatedJpeg());
        assertMentions(failure(SIZE_10), "train/cat/broken.jpg", "corrupt or truncated", "--bad-records skip");

        LoadedDataset skipping = open(SIZE_10.withBadRecords(BadRecordPolicy.SKIP));
        assertEquals(13, skipping.train().size());
        assertEquals(List.of("train/cat/broken.jpg"), skipping.skipped().stream().map(SkippedRecord::source).toList());
        assertMentions(skipping.skipped().get(0).reason(), "corrupt or truncated");

        byte[] png = encode(textured(16, 16, 1, false), "png");
        byte[] flipped = png.clone();
        for (int i = 60; i < flipped.length - 30; i += 7) {
            flipped[i] ^= (byte) 0x5A;
        }
        Files.delete(root.resolve("train/cat/broken.jpg"));
        TestDatasets.write(root.resolve("train/bird/garbled.png"), flipped);
        // Damage inside the compressed data passes the header check; a full check or the executor's decode names the file.
        LoadedDataset headerChecked = open(SIZE_10);
        assertMentions(assertThrows(io.lockstep.worker.data.BadRecordException.class,
                () -> headerChecked.decoder().decode(headerChecked.train(), true, 1, 0, 0, 0)).getMessage(), "train/bird/garbled.png");
        assertMentions(failure(SIZE_10.withVerifyImages("full")), "train/bird/garbled.png", "cannot be decoded");
    }

    @Test
    void nonImageFilesInClassFolders() throws IOException {
        TestDatasets.imageFolder(root);
        TestDatasets.write(root.resolve("train/dog/notes.txt"), "not a picture".getBytes());
        assertMentions(failure(SIZE_10), "train/dog/notes.txt", "is not a .jpg, .jpeg or .png file");
        TestDatasets.write(root.resolve("train/dog/fake.png"), "not a picture either".getBytes());
        LoadedDataset skipping = open(SIZE_10.withBadRecords(BadRecordPolicy.SKIP));
        assertEquals(List.of("train/dog/fake.png", "train/dog/notes.txt"),
                skipping.skipped().stream().map(SkippedRecord::source).sorted().toList());
        assertMentions(skipping.skipped().stream().filter(s -> s.source().endsWith("fake.png")).findFirst().orElseThrow().reason(),
                "is not a PNG or JPEG image", "\"not a pi\"");
    }

    @Test
    void emptyClassFolderFailsOrIsDroppedAsAClass() throws IOException {
        TestDatasets.imageFolder(root);
        Files.createDirectories(root.resolve("train/empty"));
        TestDatasets.write(root.resolve("train/empty/.hidden"), new byte[1]);
        assertMentions(failure(SIZE_10), "train/empty", "has no .jpg, .jpeg or .png files");
        LoadedDataset skipping = open(SIZE_10.withBadRecords(BadRecordPolicy.SKIP));
        assertEquals(List.of("bird", "cat", "dog"), skipping.classNames());
        assertEquals("train/empty/", skipping.skipped().get(0).source());
    }

    @Test
    void classInValButNotInTrain() throws IOException {
        TestDatasets.imageFolder(root);
        TestDatasets.write(root.resolve("val/horse/h.png"), encode(textured(8, 8, 1, false), "png"));
        assertMentions(failure(SIZE_10), "val/horse", "class 'horse' of val/ is not a class of train/", "bird, cat, dog");
        LoadedDataset skipping = open(SIZE_10.withBadRecords(BadRecordPolicy.SKIP));
        assertEquals(2, skipping.test().size());
        assertEquals("val/horse/", skipping.skipped().get(0).source());
    }

    @Test
    void testFolderIsUsedWhenThereIsNoValAndValWithoutTrainIsAnError() throws IOException {
        TestDatasets.imageFolder(root);
        Files.move(root.resolve("val"), root.resolve("test"));
        assertEquals(2, open(SIZE_10).test().size());
        Path lonely = Files.createDirectories(root.resolve("lonely/val/cat"));
        TestDatasets.write(lonely.resolve("x.png"), encode(textured(8, 8, 1, false), "png"));
        assertMentions(assertThrows(DatasetException.class, () -> DatasetSource.open(root.resolve("lonely").toString(), CONF, SIZE_10))
                .getMessage(), "has a val/ folder but no train/ folder");
    }

    @Test
    void emptyDataset() throws IOException {
        Files.createDirectories(root.resolve("a"));
        Files.createDirectories(root.resolve("b"));
        assertMentions(failure(SIZE_10), "has no .jpg, .jpeg or .png files");
        assertMentions(failure(SIZE_10.withBadRecords(BadRecordPolicy.SKIP)), "has no class folders with images");
    }

    @Test
    void autoNormalizationComputesTrainingSetStatistics() throws IOException {
        // Half the images (255, 0, 0), half (0, 255, 102): mean (0.5, 0.5, 0.2), std (0.5, 0.5, 0.2).
        for (int i = 0; i < 4; i++) {
            TestDatasets.write(root.resolve("train/red/" + i + ".png"), encode(TestDatasets.solid(5, 5, 0xFF0000, false), "png"));
            TestDatasets.write(root.resolve("train/green/" + i + ".png"), encode(TestDatasets.solid(5, 5, 0x00FF66, false), "png"));
        }
        TestDatasets.write(root.resolve("val/red/v.png"), encode(TestDatasets.solid(5, 5, 0xFF0000, false), "png"));
        LoadedDataset dataset = open(DatasetOptions.defaults().withNormalize("auto"));
        Normalizer normalizer = dataset.transform().normalizer();
        assertArrayEquals(new float[]{0.5f, 0.5f, 0.2f}, normalizer.mean(), 1e-6f);
        assertArrayEquals(new float[]{0.5f, 0.5f, 0.2f}, normalizer.std(), 1e-6f);
        float[] features = dataset.decoder().decode(dataset.test(), false, 0, 0, 0, -1).getFeatures().dup().data().asFloat();
        assertEquals(1f, features[0], 1e-5, "red 1.0 -> (1 - 0.5) / 0.5");
        assertEquals(-1f, features[25], 1e-5, "green 0.0 -> (0 - 0.5) / 0.5");
        assertEquals(-1f, features[50], 1e-5, "blue 0.0 -> (0 - 0.2) / 0.2");
    }
}
