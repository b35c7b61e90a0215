package io.lockstep.driver.data;

import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.LabeledRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import scala.Tuple2;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Datasets read on the executors hold, index by index, the records the driver-side reader reads:
 * same ids, labels and bytes (so the same epoch plans), with bad files numbered out the same way.
 */
class DistributedDatasetTest {
    private static final Configuration CONF = new Configuration();
    private static JavaSparkContext sc;

    @TempDir
    Path dir;

    @BeforeAll
    static void startSpark() {
        sc = new JavaSparkContext(new SparkConf().setMaster("local[2]").setAppName("distributed-dataset-test")
                .set("spark.ui.enabled", "false"));
    }

    @AfterAll
    static void stopSpark() {
        sc.close();
    }

    private static void assertSameRecords(List<LabeledRecord> expected, DistributedDataset actual, boolean test) {
        List<Tuple2<Integer, LabeledRecord>> records = new java.util.ArrayList<>(
                (test ? actual.test(sc, 2) : actual.train(sc, 2)).collect());
        records.sort(java.util.Comparator.comparingInt(Tuple2::_1));
        assertEquals(expected.size(), records.size(), (test ? "test" : "train") + " records");
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(i, records.get(i)._1(), "dense ids");
            assertEquals(expected.get(i).label(), records.get(i)._2().label(), "label of record " + i);
            assertArrayEquals(expected.get(i).payload(), records.get(i)._2().payload(), "bytes of record " + i);
            assertEquals(expected.get(i).source(), records.get(i)._2().source(), "source of record " + i);
        }
    }

    @Test
    void idxRecordsMatchTheDriverSideReader() {
        String uri = Path.of("..", "data", "fashion-mnist-small").toAbsolutePath().normalize().toString();
        LoadedDataset driver = DatasetSource.open(uri, CONF);
        DistributedDataset executors = DistributedDataset.open(sc, uri, DatasetOptions.defaults());
        try {
            assertEquals(driver.train().size(), executors.trainSize());
            assertSameRecords(driver.train(), executors, false);
            assertSameRecords(driver.test(), executors, true);
            assertEquals(driver.transform(), executors.transform());
            assertEquals(driver.classNames(), executors.classNames());
        } finally {
            executors.release();
        }
    }

    @Test
    void uncompressedIdxIsReadInRangesAndCifarToo() throws Exception {
        Path idx = dir.resolve("idx");
        Files.createDirectories(idx);
        Path shipped = Path.of("..", "data", "fashion-mnist-small").toAbsolutePath().normalize();
        for (String name : IdxDataset.FILES) {
            try (var in = new java.util.zip.GZIPInputStream(Files.newInputStream(shipped.resolve(name + ".gz")))) {
                Files.write(idx.resolve(name), in.readAllBytes());
            }
        }
        TestDatasets.cifar10(dir.resolve("cifar"));
        for (Path data : new Path[]{idx, dir.resolve("cifar")}) {
            LoadedDataset driver = DatasetSource.open(data.toString(), CONF, DatasetOptions.defaults().withNormalize("auto"));
            DistributedDataset executors = DistributedDataset.open(sc, data.toString(), DatasetOptions.defaults().withNormalize("auto"));
            try {
                assertSameRecords(driver.train(), executors, false);
                assertSameRecords(driver.test(), executors, true);
                float[] expected = driver.transform().normalizer().mean();
                float[] actual = executors.transform().normalizer().mean();
                for (int c = 0; c < expected.length; c++) {
                    assertEquals(expected[c], actual[c], 1e-5, "--normalize auto mean of channel " + c + " of " + data);
                    assertEquals(driver.transform().normalizer().std()[c], executors.transform().normalizer().std()[c], 1e-5);
                }
            } finally {
                executors.release();
            }
        }
    }

    @Test
    void imageFolderWithBadFilesNumbersRecordsLikeTheDriverSideReader() throws Exception {
        Path root = dir.resolve("images");
        TestDatasets.imageFolder(root);
        TestDatasets.write(root.resolve("train/cat/truncated.jpg"), TestDatasets.truncatedJpeg());
        TestDatasets.write(root.resolve("train/bird/b00-not-an-image.png"), new byte[]{1, 2, 3, 4, 5, 6, 7, 8});
        DatasetOptions skip = DatasetOptions.defaults().withImageSize(16, 16).withBadRecords(BadRecordPolicy.SKIP);
        LoadedDataset driver = DatasetSource.open(root.toString(), CONF, skip);
        DistributedDataset executors = DistributedDataset.open(sc, root.toString(), skip);
        try {
            assertSameRecords(driver.train(), executors, false);
            assertSameRecords(driver.test(), executors, true);
            assertEquals(driver.transform(), executors.transform());
            assertEquals(2, executors.skipped().size(), executors.skipped().toString());
            assertTrue(executors.skipped().toString().contains("truncated.jpg"), executors.skipped().toString());
            assertTrue(executors.skipped().toString().contains("b00-not-an-image.png"), executors.skipped().toString());
        } finally {
            executors.release();
        }

        String message = assertThrows(DatasetException.class, () -> DistributedDataset.open(sc, root.toString(),
                skip.withBadRecords(BadRecordPolicy.FAIL))).getMessage();
        assertTrue(message.contains("b00-not-an-image.png") || message.contains("truncated.jpg"), message);
        assertTrue(message.contains("--bad-records skip"), message);
    }

    @Test
    void mixedSizesWithoutImageSizeFailLikeTheDriverSideReader() throws Exception {
        Path root = dir.resolve("mixed");
        TestDatasets.imageFolder(root);
        String message = assertThrows(DatasetException.class,
                () -> DistributedDataset.open(sc, root.toString(), DatasetOptions.defaults())).getMessage();
        assertTrue(message.contains("--image-size"), message);
    }

    @Test
    void parquetRowsWithNamedLabelsAreTheImageFolderRecords() throws Exception {
        Path root = dir.resolve("images");
        TestDatasets.imageFolder(root);
        Path parquet = dir.resolve("parquet");
        org.apache.spark.sql.SparkSession spark = org.apache.spark.sql.SparkSession.builder().sparkContext(sc.sc()).getOrCreate();
        for (String split : new String[]{"train", "val"}) {
            spark.read().format("binaryFile").option("recursiveFileLookup", "true").option("pathGlobFilter", "*.{png,jpg,jpeg,JPG}")
                    .load(root.resolve(split).toString())
                    .withColumn("class", org.apache.spark.sql.functions.regexp_extract(
                            org.apache.spark.sql.functions.col("path"), "/" + split + "/([^/]+)/", 1))
                    .selectExpr("content AS picture", "class")
                    .write().parquet(parquet.resolve(split).toString());
        }
        DatasetOptions options = DatasetOptions.defaults().withImageSize(16, 16);
        LoadedDataset folder = DatasetSource.open(root.toString(), CONF, options);
        DistributedDataset rows = DistributedDataset.open(sc, parquet.toString(), options, "picture", "class");
        try {
            assertEquals(folder.classNames(), rows.classNames());
            assertEquals(folder.train().size(), rows.trainSize());
            assertEquals(folder.test().size(), rows.testSize());
            assertEquals(contents(folder.train()), contents(rows.train(sc, 2).values().collect()));
            assertEquals(contents(folder.test()), contents(rows.test(sc, 2).values().collect()));
        } finally {
            rows.release();
        }
        String message = assertThrows(DatasetException.class,
                () -> DistributedDataset.open(sc, parquet.toString(), options, "image", "class")).getMessage();
        assertTrue(message.contains("--image-column") && message.contains("picture"), message);
    }

    /** Each record as "label:crc of bytes", sorted: the same multiset whatever the order. */
    private static List<String> contents(List<LabeledRecord> records) {
        List<String> out = new java.util.ArrayList<>();
        for (LabeledRecord r : records) {
            java.util.zip.CRC32 crc = new java.util.zip.CRC32();
            crc.update(r.payload());
            out.add(r.label() + ":" + crc.getValue());
        }
        out.sort(null);
        return out;
    }
}
