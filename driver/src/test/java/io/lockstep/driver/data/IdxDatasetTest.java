package io.lockstep.driver.data;

import io.lockstep.models.InputShape;
import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.Normalizer;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.dataset.DataSet;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IdxDatasetTest {
    /** The shipped subset, relative to the driver module (Surefire's working directory). */
    static final Path SHIPPED = Path.of("../data/fashion-mnist-small").toAbsolutePath().normalize();
    private static final Configuration CONF = new Configuration();
    private static LoadedDataset shipped;

    @TempDir
    Path dir;

    @BeforeAll
    static void readShipped() {
        shipped = DatasetSource.open(SHIPPED.toString(), CONF);
    }

    @Test
    void shippedSubsetIsBalancedFashionMnist() {
        assertEquals("idx", shipped.format());
        assertEquals(10_000, shipped.train().size());
        assertEquals(2_000, shipped.test().size());
        assertEquals(List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"), shipped.classNames());
        assertEquals(new InputShape(1, 28, 28), shipped.shape());
        int[] train = shipped.classCounts(false);
        int[] test = shipped.classCounts(true);
        for (int c = 0; c < 10; c++) {
            assertEquals(1000, train[c], "training images of class " + c);
            assertEquals(200, test[c], "test images of class " + c);
        }
        // Fashion-MNIST's published training-set statistics: mean 0.2860, std 0.3530.
        Normalizer stats = DatasetSource.computeNormalizer(shipped.recordFormat(), shipped.transform(), shipped.train(), 100_000,
                BadRecordPolicy.FAIL);
        assertEquals(0.2860, stats.mean()[0], 0.01);
        assertEquals(0.3530, stats.std()[0], 0.01);
        for (LabeledRecord r : shipped.train()) {
            assertEquals(784, r.payload().length);
        }
    }

    @Test
    void decoderTurnsRecordsIntoScaledFeaturesAndOneHotLabels() {
        List<LabeledRecord> batch = shipped.train().subList(100, 164);
        DataSet data = shipped.decoder().decode(batch, true, 42, 0, 0, 0);
        assertArrayEquals(new long[]{64, 1, 28, 28}, data.getFeatures().shape());
        assertArrayEquals(new long[]{64, 10}, data.getLabels().shape());
        int[] labels = data.getLabels().argMax(1).toIntVector();
        float[] features = data.getFeatures().dup().data().asFloat();
        for (int i = 0; i < 64; i++) {
            assertEquals(batch.get(i).label(), labels[i]);
            assertEquals(1.0, data.getLabels().getRow(i).sumNumber().doubleValue(), 0);
            for (int p = 0; p < 784; p += 37) {
                assertEquals((batch.get(i).payload()[p] & 0xFF) / 255f, features[i * 784 + p], 1e-6);
            }
        }
    }

    @Test
    void optionsResizeConvertAndNormalize() {
        DatasetOptions options = DatasetOptions.defaults().withImageSize(32, 32).withChannels(3).withNormalize("auto");
        LoadedDataset dataset = DatasetSource.open(SHIPPED.toUri().toString(), CONF, options);
        assertEquals(new InputShape(3, 32, 32), dataset.shape());
        Normalizer normalizer = dataset.transform().normalizer();
        assertEquals(3, normalizer.channels());
        assertEquals(0.2860, normalizer.mean()[0], 0.01);
        assertEquals(normalizer.mean()[0], normalizer.mean()[2], 1e-6);
        DataSet batch = dataset.decoder().decode(dataset.train().subList(0, 500), false, 0, 0, 0, -1);
        assertArrayEquals(new long[]{500, 3, 32, 32}, batch.getFeatures().shape());
        assertEquals(0.0, batch.getFeatures().meanNumber().doubleValue(), 0.1, "auto-normalized features are centred");
        assertEquals(1.0, batch.getFeatures().stdNumber().doubleValue(), 0.1, "and have unit spread");
    }

    @Test
    void plainAndGzippedFilesReadTheSame() throws IOException {
        for (String name : IdxDataset.FILES) {
            try (InputStream in = new GZIPInputStream(Files.newInputStream(SHIPPED.resolve(name + ".gz")))) {
                Files.write(dir.resolve(name), in.readAllBytes());
            }
        }
        LoadedDataset plain = DatasetSource.open(dir.toString(), CONF);
        assertEquals(shipped.train().size(), plain.train().size());
        for (int i = 0; i < shipped.train().size(); i += 997) {
            assertEquals(shipped.train().get(i).label(), plain.train().get(i).label());
            assertArrayEquals(shipped.train().get(i).payload(), plain.train().get(i).payload());
        }
        assertArrayEquals(shipped.test().get(1999).payload(), plain.test().get(1999).payload());
    }

    // ---- bad input: every message names the file (and record) and the fix ----

    private void writeIdx(int trainImages, int trainLabels, int maxLabel) throws IOException {
        writeImages("train-images-idx3-ubyte.gz", trainImages, 4, 4);
        writeLabels("train-labels-idx1-ubyte.gz", trainLabels, maxLabel);
        writeImages("t10k-images-idx3-ubyte.gz", 3, 4, 4);
        writeLabels("t10k-labels-idx1-ubyte.gz", 3, 2);
    }

    private void writeImages(String name, int count, int rows, int cols) throws IOException {
        List<byte[]> images = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            byte[] image = new byte[rows * cols];
            Arrays.fill(image, (byte) i);
            images.add(image);
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        IdxFiles.writeImages(bytes, rows, cols, images);
        write(name, bytes.toByteArray());
    }

    private void writeLabels(String name, int count, int maxLabel) throws IOException {
        byte[] labels = new byte[count];
        for (int i = 0; i < count; i++) {
            labels[i] = (byte) (i % (maxLabel + 1));
        }
        if (count > 3) {
            labels[3] = (byte) maxLabel;
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        IdxFiles.writeLabels(bytes, labels);
        write(name, bytes.toByteArray());
    }

    private void write(String name, byte[] content) throws IOException {
        if (name.endsWith(".gz")) {
            try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(dir.resolve(name)))) {
                out.write(content);
            }
        } else {
            Files.write(dir.resolve(name), content);
        }
    }

    private String failure() {
        return assertThrows(DatasetException.class, () -> DatasetSource.open(dir.toString(), CONF)).getMessage();
    }

    private static void assertMentions(String message, String... parts) {
        for (String part : parts) {
            assertTrue(message.contains(part), "message should mention '" + part + "': " + message);
        }
    }

    @Test
    void smallWellFormedDatasetReads() throws IOException {
        writeIdx(5, 5, 9);
        LoadedDataset dataset = DatasetSource.open(dir.toString(), CONF);
        assertEquals(5, dataset.train().size());
        assertEquals(new InputShape(1, 4, 4), dataset.shape());
        assertEquals(9, dataset.train().get(3).label());
        assertArrayEquals(new byte[16], dataset.train().get(0).payload());
    }

    @Test
    void missingPathFileInsteadOfDirectoryAndUnknownContent() throws IOException {
        assertMentions(assertThrows(DatasetException.class, () -> DatasetSource.open(dir.resolve("nope").toString(), CONF)).getMessage(),
                "nope", "does not exist");
        Files.writeString(dir.resolve("notes.txt"), "hello");
        assertMentions(assertThrows(DatasetException.class, () -> DatasetSource.open(dir.resolve("notes.txt").toString(), CONF)).getMessage(),
                "notes.txt", "is a file", "directory");
        assertMentions(failure(), "is not a dataset", "train-images-idx3-ubyte");
    }

    @Test
    void missingOneOfTheFourFiles() throws IOException {
        writeIdx(5, 5, 9);
        Files.delete(dir.resolve("t10k-labels-idx1-ubyte.gz"));
        assertMentions(failure(), "lacks t10k-labels-idx1-ubyte[.gz]");
    }

    @Test
    void fileThatIsNotIdx() throws IOException {
        writeIdx(5, 5, 9);
        write("train-images-idx3-ubyte.gz", "<html>404 not found</html>".getBytes());
        assertMentions(failure(), "train-images-idx3-ubyte.gz", "is not an IDX file", "0x3c68746d", "0x00000803");
        // A labels file where the images file belongs.
        writeLabels("train-images-idx3-ubyte.gz", 5, 9);
        assertMentions(failure(), "train-images-idx3-ubyte.gz", "IDX ubyte file with 1 dimensions", "0x00000803");
    }

    @Test
    void gzNameOnAnUncompressedFile() throws IOException {
        writeIdx(5, 5, 9);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        IdxFiles.writeLabels(bytes, new byte[5]);
        Files.write(dir.resolve("train-labels-idx1-ubyte.gz"), bytes.toByteArray());
        assertMentions(failure(), "train-labels-idx1-ubyte.gz", "not gzip-compressed", "rename it without .gz");
    }

    @Test
    void truncatedImagesPlainAndGzipped() throws IOException {
        writeIdx(5, 5, 9);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        List<byte[]> images = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            images.add(new byte[16]);
        }
        IdxFiles.writeImages(bytes, 4, 4, images);
        byte[] cut = Arrays.copyOf(bytes.toByteArray(), 16 + 3 * 16 + 5);
        Files.delete(dir.resolve("train-images-idx3-ubyte.gz"));
        write("train-images-idx3-ubyte", cut);
        assertMentions(failure(), "train-images-idx3-ubyte", "is truncated", "5 images of 4x4", "inside image 3", "download it again");

        Files.delete(dir.resolve("train-images-idx3-ubyte"));
        write("train-images-idx3-ubyte.gz", bytes.toByteArray());
        byte[] gz = Files.readAllBytes(dir.resolve("train-images-idx3-ubyte.gz"));
        Files.write(dir.resolve("train-images-idx3-ubyte.gz"), Arrays.copyOf(gz, gz.length - 12));
        assertMentions(failure(), "train-images-idx3-ubyte.gz", "truncated");

        Files.write(dir.resolve("train-images-idx3-ubyte.gz"), Arrays.copyOf(gz, 0));
        assertMentions(failure(), "train-images-idx3-ubyte.gz is empty or ends inside its gzip header");
    }

    @Test
    void trailingBytesAreRejected() throws IOException {
        writeIdx(5, 5, 9);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        IdxFiles.writeLabels(bytes, new byte[5]);
        bytes.write(new byte[7]);
        write("train-labels-idx1-ubyte.gz", bytes.toByteArray());
        assertMentions(failure(), "train-labels-idx1-ubyte.gz", "7 extra bytes", "5 labels");
    }

    @Test
    void imageAndLabelCountsDiffer() throws IOException {
        writeIdx(5, 4, 9);
        assertMentions(failure(), "train-images-idx3-ubyte.gz holds 5 images", "train-labels-idx1-ubyte.gz holds 4 labels");
    }

    @Test
    void labelOutsideTheClassRangeNamesRecordAndOption() throws IOException {
        writeIdx(5, 5, 12);
        assertMentions(failure(), "train-labels-idx1-ubyte.gz", "label 12 of record 3", "outside 0..9", "--num-classes");
        LoadedDataset thirteen = DatasetSource.open(dir.toString(), CONF, DatasetOptions.defaults().withNumClasses(13));
        assertEquals(13, thirteen.numClasses());
        assertEquals(12, thirteen.train().get(3).label());
    }

    @Test
    void emptyDataset() throws IOException {
        writeIdx(0, 0, 9);
        assertMentions(failure(), "train-images-idx3-ubyte.gz holds no images", "empty");
    }

    @Test
    void splitsOfDifferentImageSizes() throws IOException {
        writeIdx(5, 5, 9);
        writeImages("t10k-images-idx3-ubyte.gz", 3, 5, 5);
        assertMentions(failure(), "t10k-images-idx3-ubyte.gz holds 5x5 images", "4x4");
    }

    @Test
    void invalidOptionsAreReportedTogether() {
        DatasetOptions bad = DatasetOptions.defaults().withChannels(2).withNormalize("fast").withValFraction(1.5);
        String message = assertThrows(DatasetException.class, bad::validate).getMessage();
        assertMentions(message, "--channels", "--normalize", "--val-fraction");
    }
}
