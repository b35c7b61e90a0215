package io.lockstep.driver.data;

import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.LabeledRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code inspect-data} on the executors prints the driver path's report and draws its contact sheet pixel
 * for pixel, while only the images shown reach the driver; Parquet and tar shards, which only executors
 * read, are inspected too.
 */
class InspectOnExecutorsTest {
    private static final Configuration CONF = new Configuration();
    private static JavaSparkContext sc;

    @TempDir
    Path dir;

    @BeforeAll
    static void startSpark() {
        sc = new JavaSparkContext(new SparkConf().setMaster("local[2]").setAppName("inspect-on-executors-test")
                .set("spark.ui.enabled", "false"));
    }

    @AfterAll
    static void stopSpark() {
        sc.close();
    }

    /** As inspect-data reads: bad records listed, not fatal, and every image decoded. */
    private static DatasetOptions inspecting(DatasetOptions options) {
        return options.withBadRecords(BadRecordPolicy.SKIP).withVerifyImages("full");
    }

    private DataInspector.Inspection onExecutors(String uri, DatasetOptions options, int perClass, long seed) {
        DistributedDataset dataset = DistributedDataset.open(sc, uri, options, DistributedDataset.DEFAULT_IMAGE_COLUMN,
                DistributedDataset.DEFAULT_LABEL_COLUMN, 64);
        try {
            return DataInspector.inspect(dataset, perClass, seed);
        } finally {
            dataset.release();
        }
    }

    private static void assertSamePixels(BufferedImage expected, BufferedImage actual) {
        assertEquals(expected.getWidth(), actual.getWidth(), "sheet width");
        assertEquals(expected.getHeight(), actual.getHeight(), "sheet height");
        int w = expected.getWidth();
        int h = expected.getHeight();
        assertArrayEquals(expected.getRGB(0, 0, w, h, null, 0, w), actual.getRGB(0, 0, w, h, null, 0, w), "sheet pixels");
    }

    private static List<String> sources(DataInspector.Inspection inspection) {
        return inspection.chosen().stream().flatMap(List::stream).map(LabeledRecord::source).toList();
    }

    @Test
    void imageFolderWithBadFilesGivesTheSameReportAndSheetOnBothPaths() throws Exception {
        Path root = dir.resolve("images");
        TestDatasets.imageFolder(root);
        TestDatasets.write(root.resolve("train/dog/broken.jpg"), TestDatasets.truncatedJpeg());
        TestDatasets.write(root.resolve("train/cat/damaged.png"), TestDatasets.damagedPng());
        TestDatasets.write(root.resolve("train/dog/notes.txt"), "x".getBytes());
        for (DatasetOptions options : List.of(
                inspecting(DatasetOptions.defaults().withImageSize(12, 12).withAugmentation(2, true, false, 0.08)),
                inspecting(DatasetOptions.defaults()))) { // mixed sizes, shown at the fallback size
            DataInspector.Inspection driver = DataInspector.inspect(DatasetSource.open(root.toString(), CONF, options, 64), 3, 7);
            DataInspector.Inspection executors = onExecutors(root.toString(), options, 3, 7);

            String report = DataInspector.report(driver);
            assertEquals(report, DataInspector.report(executors));
            assertTrue(report.contains("unreadable   3") && report.contains("train/cat/damaged.png: ")
                    && report.contains("train/dog/broken.jpg: ") && report.contains("train/dog/notes.txt: "), report);
            assertTrue(report.matches("(?s).*1\\s+cat\\s+6\\s+1\\n.*"), report);
            assertEquals(sources(driver), sources(executors));
            assertSamePixels(DataInspector.contactSheet(driver, 3, 7), DataInspector.contactSheet(executors, 3, 7));
        }
    }

    /**
     * 10,000 training images on the executors: the driver receives the few shown (2 per class), and they are
     * the driver path's choice, drawn the same.
     */
    @Test
    void onlyTheChosenImagesReachTheDriver() {
        String uri = Path.of("..", "data", "fashion-mnist-small").toAbsolutePath().normalize().toString();
        DatasetOptions options = inspecting(DatasetOptions.defaults());
        DataInspector.Inspection executors = onExecutors(uri, options, 2, 42);
        assertEquals(10_000, executors.trainSize());
        assertEquals(10, executors.chosen().size());
        for (List<LabeledRecord> shown : executors.chosen()) {
            assertEquals(2, shown.size(), "images of a class reaching the driver");
        }
        DataInspector.Inspection driver = DataInspector.inspect(DatasetSource.open(uri, CONF, options, 64), 2, 42);
        assertEquals(DataInspector.report(driver), DataInspector.report(executors));
        assertSamePixels(DataInspector.contactSheet(driver, 2, 42), DataInspector.contactSheet(executors, 2, 42));
    }

    /** The per-class choice is the lowest ranks whatever the order of records and their partitioning. */
    @Test
    void theChoiceDoesNotDependOnOrderOrPartitions() {
        List<DataInspector.Candidate> all = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            all.add(DataInspector.Candidate.of(3, "train/c/" + i + ".png", new LabeledRecord(0, new byte[]{(byte) i}, "train/c/" + i + ".png")));
        }
        Function<List<DataInspector.Candidate>, List<String>> chooseAtOnce = list -> {
            DataInspector.Chosen one = new DataInspector.Chosen(5);
            list.forEach(one::add);
            return one.records().stream().map(LabeledRecord::source).toList();
        };
        List<String> expected = chooseAtOnce.apply(all);
        assertEquals(5, expected.size());
        Random random = new Random(11);
        for (int trial = 0; trial < 20; trial++) {
            List<DataInspector.Candidate> shuffled = new ArrayList<>(all);
            Collections.shuffle(shuffled, random);
            DataInspector.Chosen merged = new DataInspector.Chosen(5);
            int from = 0;
            while (from < shuffled.size()) {
                int to = Math.min(shuffled.size(), from + 1 + random.nextInt(120));
                DataInspector.Chosen partition = new DataInspector.Chosen(5);
                shuffled.subList(from, to).forEach(partition::add);
                merged.merge(partition);
                from = to;
            }
            assertEquals(expected, merged.records().stream().map(LabeledRecord::source).toList(), "trial " + trial);
        }
    }

    @Test
    void parquetAndTarShardsAreInspectedOnTheExecutors() throws Exception {
        Path root = dir.resolve("images");
        TestDatasets.imageFolder(root);
        DatasetOptions options = inspecting(DatasetOptions.defaults().withImageSize(16, 16));
        DataInspector.Inspection folder = DataInspector.inspect(DatasetSource.open(root.toString(), CONF, options, 64), 2, 5);

        Path parquet = dir.resolve("parquet");
        SparkSession spark = SparkSession.builder().sparkContext(sc.sc()).getOrCreate();
        for (String split : new String[]{"train", "val"}) {
            spark.read().format("binaryFile").option("recursiveFileLookup", "true").option("pathGlobFilter", "*.{png,jpg,jpeg,JPG}")
                    .load(root.resolve(split).toString())
                    .withColumn("label", functions.regexp_extract(functions.col("path"), "/" + split + "/([^/]+)/", 1))
                    .selectExpr("content AS image", "label")
                    .write().parquet(parquet.resolve(split).toString());
        }
        Path shards = dir.resolve("shards");
        LoadedDataset records = DatasetSource.open(root.toString(), CONF, options);
        TestDatasets.shards(shards.resolve("train"), records.train(), 3);
        TestDatasets.shards(shards.resolve("val"), records.test(), 3);
        Files.writeString(shards.resolve("classes.txt"), String.join("\n", records.classNames()) + "\n");

        for (Path executorsOnly : List.of(parquet, shards)) {
            DataInspector.Inspection inspection = onExecutors(executorsOnly.toString(), options, 2, 5);
            assertEquals(folder.classNames(), inspection.classNames());
            assertArrayEquals(folder.trainCounts(), inspection.trainCounts(), executorsOnly.toString());
            assertArrayEquals(folder.testCounts(), inspection.testCounts(), executorsOnly.toString());
            assertEquals(folder.survey().sizes(), inspection.survey().sizes());
            assertEquals(folder.survey().channels(), inspection.survey().channels());
            assertEquals(List.of(2, 2, 2), inspection.chosen().stream().map(List::size).toList());
            String report = DataInspector.report(inspection);
            assertTrue(report.contains("records      13 train, 2 test") && report.contains("unreadable   0"), report);
            BufferedImage sheet = DataInspector.contactSheet(inspection, 2, 5);
            assertEquals(20 + 3 * (48 + 4) + 4, sheet.getHeight());
        }
    }
}
