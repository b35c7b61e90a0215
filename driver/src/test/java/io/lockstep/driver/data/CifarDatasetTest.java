package io.lockstep.driver.data;

import io.lockstep.models.InputShape;
import io.lockstep.worker.data.LabeledRecord;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CifarDatasetTest {
    private static final Configuration CONF = new Configuration();

    @TempDir
    Path dir;

    private String failure() {
        return assertThrows(DatasetException.class, () -> DatasetSource.open(dir.toString(), CONF)).getMessage();
    }

    private static void assertMentions(String message, String... parts) {
        for (String part : parts) {
            assertTrue(message.contains(part), "message should mention '" + part + "': " + message);
        }
    }

    @Test
    void cifar10RecordsKeepLabelsAndChannelFirstPixels() throws IOException {
        TestDatasets.cifar10(dir);
        LoadedDataset dataset = DatasetSource.open(dir.toString(), CONF);
        assertEquals("cifar-10", dataset.format());
        assertEquals(List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
                dataset.classNames());
        assertEquals(new InputShape(3, 32, 32), dataset.shape());
        assertEquals(10, dataset.train().size());
        assertEquals(3, dataset.test().size());
        for (int n = 0; n < 10; n++) {
            LabeledRecord r = dataset.train().get(n);
            assertEquals(n % 10, r.label());
            assertArrayEquals(Arrays.copyOfRange(TestDatasets.cifarRecord(new int[]{n % 10}, n), 1, 3073), r.payload());
        }
        float[] features = dataset.decoder().decode(dataset.test().subList(2, 3), false, 0, 0, 0, -1).getFeatures().dup().data().asFloat();
        for (int c = 0; c < 3; c++) {
            assertEquals((2 * 20 + c * 7 + 102) / 255f, features[c * 1024 + 517], 1e-6, "channel " + c);
        }
    }

    @Test
    void archiveFolderAndClassNamesFile() throws IOException {
        Path inner = dir.resolve("cifar-10-batches-bin");
        TestDatasets.cifar10(inner);
        Files.writeString(inner.resolve("batches.meta.txt"), "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n");
        LoadedDataset dataset = DatasetSource.open(dir.toString(), CONF);
        assertEquals(List.of("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"), dataset.classNames());
        Files.writeString(inner.resolve("batches.meta.txt"), "a\nb\n");
        assertMentions(failure(), "batches.meta.txt lists 2 class names, expected 10");
    }

    @Test
    void cifar100UsesFineLabels() throws IOException {
        ByteArrayOutputStream train = new ByteArrayOutputStream();
        for (int i = 0; i < 5; i++) {
            train.write(TestDatasets.cifarRecord(new int[]{19 - i, i * 21}, i));
        }
        TestDatasets.write(dir.resolve("train.bin"), train.toByteArray());
        TestDatasets.write(dir.resolve("test.bin"), TestDatasets.cifarRecord(new int[]{3, 99}, 7));
        LoadedDataset dataset = DatasetSource.open(dir.toString(), CONF);
        assertEquals("cifar-100", dataset.format());
        assertEquals(100, dataset.numClasses());
        assertEquals("apple", dataset.classNames().get(0));
        assertEquals("worm", dataset.classNames().get(99));
        assertEquals(List.of(0, 21, 42, 63, 84), dataset.train().stream().map(LabeledRecord::label).toList());
        assertEquals(99, dataset.test().get(0).label());
        assertArrayEquals(Arrays.copyOfRange(TestDatasets.cifarRecord(new int[]{19, 0}, 0), 2, 3074), dataset.train().get(0).payload());
    }

    @Test
    void wrongLengthNamesTheFileAndTheRecordSize() throws IOException {
        TestDatasets.cifar10(dir);
        byte[] batch = Files.readAllBytes(dir.resolve("data_batch_4.bin"));
        Files.write(dir.resolve("data_batch_4.bin"), Arrays.copyOf(batch, batch.length - 100));
        assertMentions(failure(), "data_batch_4.bin is 6046 bytes", "3073 bytes", "truncated");
        Files.write(dir.resolve("data_batch_4.bin"), new byte[0]);
        assertMentions(failure(), "data_batch_4.bin is 0 bytes", "empty");
    }

    @Test
    void missingBatchAndLabelOutOfRange() throws IOException {
        TestDatasets.cifar10(dir);
        Files.delete(dir.resolve("data_batch_3.bin"));
        assertMentions(failure(), "looks like CIFAR-10 but lacks data_batch_3.bin");
        TestDatasets.cifar10(dir);
        byte[] test = Files.readAllBytes(dir.resolve("test_batch.bin"));
        test[3073] = 10;
        Files.write(dir.resolve("test_batch.bin"), test);
        assertMentions(failure(), "test_batch.bin: record 1 has label 10, outside 0..9");
    }
}
