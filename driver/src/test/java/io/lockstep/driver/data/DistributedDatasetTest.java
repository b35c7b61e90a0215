package io.lockstep.driver.data;

import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.LabeledRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
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
import static org.junit.jupiter.api.Assertions.assertSame;
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
        assertSameRecords(expected, actual, test, true);
    }

    private static void assertSameRecords(List<LabeledRecord> expected, DistributedDataset actual, boolean test,
                                          boolean sameSources) {
        List<Tuple2<Integer, LabeledRecord>> records = new java.util.ArrayList<>(
                (test ? actual.test(sc, 2) : actual.train(sc, 2)).collect());
        records.sort(java.util.Comparator.comparingInt(Tuple2::_1));
        assertEquals(expected.size(), records.size(), (test ? "test" : "train") + " records");
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(i, records.get(i)._1(), "dense ids");
            assertEquals(expected.get(i).label(), records.get(i)._2().label(), "label of record " + i);
            assertArrayEquals(expected.get(i).payload(), records.get(i)._2().payload(), "bytes of record " + i);
            if (sameSources) {
                assertEquals(expected.get(i).source(), records.get(i)._2().source(), "source of record " + i);
            }
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
        byte[] damaged = TestDatasets.damagedPng();
        io.lockstep.worker.data.ImageProbe.probe(damaged, "damaged.png", false);
        assertThrows(io.lockstep.worker.data.BadRecordException.class,
                () -> io.lockstep.worker.data.ImageProbe.probe(damaged, "damaged.png", true), "only decoding finds the damage");
        TestDatasets.write(root.resolve("train/dog/damaged.png"), damaged);
        DatasetOptions skip = DatasetOptions.defaults().withImageSize(16, 16).withBadRecords(BadRecordPolicy.SKIP);
        LoadedDataset driver = DatasetSource.open(root.toString(), CONF, skip);
        DistributedDataset executors = DistributedDataset.open(sc, root.toString(), skip);
        try {
            assertSameRecords(driver.train(), executors, false);
            assertSameRecords(driver.test(), executors, true);
            assertEquals(driver.transform(), executors.transform());
            // The damaged PNG passes the header check; under skip every image is decoded once when read, so it is found.
            assertEquals(3, executors.skipped().size(), executors.skipped().toString());
            assertEquals(3, driver.skipped().size(), driver.skipped().toString());
            assertTrue(executors.skipped().toString().contains("damaged.png"), executors.skipped().toString());
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

    /** An executor out of heap while reading Parquet: the error names the largest row group and both fixes; other errors pass. */
    @Test
    void parquetOutOfHeapNamesTheLargestRowGroup() throws Exception {
        Path file = dir.resolve("rows.parquet");
        MessageType schema = MessageTypeParser.parseMessageType("message image { required binary image; required int32 label; }");
        SimpleGroupFactory rows = new SimpleGroupFactory(schema);
        java.util.SplittableRandom random = new java.util.SplittableRandom(3);
        // Row groups of three rows, by size, in every Parquet version Lockstep builds against: the writer checks
        // after every row and closes a group once its bytes exceed the limit less two rows (4 rows' worth ≤ 4,500
        // < 5 rows' worth for both row sizes below).
        try (ParquetWriter<Group> writer = ExampleParquetWriter.builder(new org.apache.hadoop.fs.Path(file.toUri())).withConf(CONF)
                .withType(schema).withRowGroupSize(4_500).withMinRowCountForPageSizeCheck(1)
                .withMaxRowCountForPageSizeCheck(1).withDictionaryEncoding(false).build()) {
            for (int i = 0; i < 7; i++) {
                // Random bytes, so no encoding shrinks them; rows 3..5 (the second row group) are the largest.
                byte[] image = new byte[i / 3 == 1 ? 1_080 : 1_000];
                random.nextBytes(image);
                writer.write(rows.newGroup().append("image", Binary.fromConstantByteArray(image)).append("label", 0));
            }
        }
        String name = file.toUri().toString();
        ParquetDataset.RowGroup largest = ParquetDataset.largestRowGroup(CONF, List.of(name));
        assertEquals(1, largest.index());
        assertEquals(3, largest.rows());
        assertTrue(largest.bytes() > 3 * 1_080 && largest.bytes() < 4_000, "bytes " + largest.bytes());
        DatasetException lost = new DatasetException("read failed", new RuntimeException("Job aborted due to stage failure: Task 3 in"
                + " stage 1.0 failed 4 times: java.lang.OutOfMemoryError: Java heap space\n\tat java.base/java.nio.HeapByteBuffer.<init>"));
        String message = ParquetDataset.whenOutOfHeap(sc, "/data", List.of(name), lost).getMessage();
        assertTrue(message.contains("ran out of heap") && message.contains("row group 1 of " + name) && message.contains("in 3 rows")
                && message.contains("parquet.block.row.count.limit") && message.contains("spark.executor.memory"), message);
        DatasetException other = new DatasetException("--data: row 3 has no label");
        assertSame(other, ParquetDataset.whenOutOfHeap(sc, "/data", List.of(name), other));
    }

    /** The image folder's records written as tar shards (train/ and val/) are read as the same records, in order. */
    @Test
    void tarShardsHoldTheImageFolderRecordsInOrder() throws Exception {
        Path root = dir.resolve("images");
        TestDatasets.imageFolder(root);
        DatasetOptions options = DatasetOptions.defaults().withImageSize(16, 16);
        LoadedDataset folder = DatasetSource.open(root.toString(), CONF, options);
        Path shards = dir.resolve("shards");
        TestDatasets.shards(shards.resolve("train"), folder.train(), 5);
        TestDatasets.shards(shards.resolve("val"), folder.test(), 5);
        Files.writeString(shards.resolve("classes.txt"), String.join("\n", folder.classNames()) + "\n");
        DistributedDataset tar = DistributedDataset.open(sc, shards.toString(), options);
        try {
            assertEquals(folder.classNames(), tar.classNames());
            assertSameRecords(folder.train(), tar, false, false);
            assertSameRecords(folder.test(), tar, true, false);
            assertEquals(folder.transform(), tar.transform());
            assertTrue(tar.describe().startsWith("tar-shards dataset") && tar.describe().contains("in 4 units"), tar.describe());
        } finally {
            tar.release();
        }
        String message = assertThrows(DatasetException.class, () -> DatasetSource.open(shards.toString(), CONF, options))
                .getMessage();
        assertTrue(message.contains("tar shards") && message.contains("executors"), message);
    }

    /**
     * Listing cuts tar shards into read units at sample boundaries: read unit by unit, down to one sample a
     * unit, they hold exactly the records (split, id, label, bytes, source) the whole shards hold, with entries
     * of other types between samples and the hash split mixing both splits in a shard; a shard that opens with
     * a global PAX header (attributes for every later entry) stays one unit.
     */
    @Test
    void tarShardsAreCutIntoReadUnitsAtSampleBoundaries() throws Exception {
        Path root = dir.resolve("cut-shards");
        long total = 0;
        for (int shard = 0; shard < 2; shard++) {
            java.util.Map<String, byte[]> entries = new java.util.LinkedHashMap<>();
            for (int i = 0; i < 12; i++) {
                String key = String.format("s%d/%04d", shard, i);
                entries.put(key + ".json", "{}".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                // Images of different sizes: a sample boundary is not a multiple of one sample's size.
                entries.put(key + ".png", TestDatasets.encode(TestDatasets.textured(8 + i, 8 + shard, 12 * shard + i, false), "png"));
                entries.put(key + ".cls", Integer.toString(i % 3).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            }
            Path file = root.resolve(String.format("shard-%06d.tar", shard));
            TestDatasets.tar(file, entries);
            total += Files.size(file);
        }
        DatasetOptions options = DatasetOptions.defaults().withValFraction(0.3);
        TarShards.Found whole = listTar(root, options, Long.MAX_VALUE);
        assertEquals(2, whole.units().size());
        List<ReadRecord> expected = readUnits(root, whole);
        assertEquals(24, expected.size());
        assertTrue(expected.stream().anyMatch(r -> r.test) && expected.stream().anyMatch(r -> !r.test), "both splits");
        long sampleBytes = total / 24;
        for (long unitBytes : new long[]{1, 3 * sampleBytes, 7 * sampleBytes}) {
            TarShards.Found cut = listTar(root, options, unitBytes);
            assertEquals(whole.train(), cut.train());
            assertEquals(whole.test(), cut.test());
            assertEquals(total, cut.units().stream().mapToLong(ReadUnit::bytes).sum(), "units cover the shards");
            if (unitBytes == 1) {
                assertEquals(24, cut.units().size(), "one sample a unit");
            } else {
                assertTrue(cut.units().size() > 2 && cut.units().size() < 24, unitBytes + " bytes: " + cut.units().size() + " units");
            }
            List<ReadRecord> actual = readUnits(root, cut);
            assertEquals(expected.size(), actual.size());
            for (int i = 0; i < expected.size(); i++) {
                ReadRecord e = expected.get(i);
                ReadRecord a = actual.get(i);
                String what = "record " + i + " with units of " + unitBytes + " bytes";
                assertEquals(e.test, a.test, what);
                assertEquals(e.id, a.id, what);
                assertEquals(e.record.label(), a.record.label(), what);
                assertEquals(e.record.source(), a.record.source(), what);
                assertArrayEquals(e.record.payload(), a.record.payload(), what);
            }
        }

        Path global = dir.resolve("global-header");
        Files.createDirectories(global);
        try (var out = new org.apache.commons.compress.archivers.tar.TarArchiveOutputStream(
                Files.newOutputStream(global.resolve("shard-000000.tar")))) {
            var header = new org.apache.commons.compress.archivers.tar.TarArchiveEntry("pax_global_header",
                    org.apache.commons.compress.archivers.tar.TarConstants.LF_PAX_GLOBAL_EXTENDED_HEADER);
            header.addPaxHeader("comment", "lockstep");
            // The writer puts a global header's records out at once: it has no entry data to write or close.
            out.putArchiveEntry(header);
            for (int i = 0; i < 4; i++) {
                byte[][] parts = {TestDatasets.encode(TestDatasets.textured(8, 8, i, false), "png"),
                        Integer.toString(i % 2).getBytes(java.nio.charset.StandardCharsets.US_ASCII)};
                String[] names = {i + ".png", i + ".cls"};
                for (int p = 0; p < 2; p++) {
                    var entry = new org.apache.commons.compress.archivers.tar.TarArchiveEntry(names[p]);
                    entry.setSize(parts[p].length);
                    out.putArchiveEntry(entry);
                    out.write(parts[p]);
                    out.closeArchiveEntry();
                }
            }
        }
        TarShards.Found kept = listTar(global, options.withValFraction(0.5), 1);
        assertEquals(1, kept.units().size(), "a shard with a global header is read whole");
        assertEquals(4, readUnits(global, kept).size());
    }

    private static TarShards.Found listTar(Path root, DatasetOptions options, long unitBytes) {
        ReadUnit.Context scan = new ReadUnit.Context(new io.lockstep.worker.spark.SerializableHadoopConf(CONF), root.toString(),
                BadRecordPolicy.FAIL, false, 0);
        return TarShards.list(sc, DatasetFiles.open(root.toString(), CONF), options, scan, unitBytes);
    }

    /** The units' records, unit by unit, as the executors read them. */
    private static List<ReadRecord> readUnits(Path root, TarShards.Found found) {
        ReadUnit.Context context = new ReadUnit.Context(new io.lockstep.worker.spark.SerializableHadoopConf(CONF), root.toString(),
                BadRecordPolicy.FAIL, false, found.classes().size());
        List<ReadRecord> records = new java.util.ArrayList<>();
        for (ReadUnit unit : found.units()) {
            unit.read(context).forEachRemaining(records::add);
        }
        return records;
    }

    /**
     * Bad samples in tar shards: an image without its class entry, a class entry without its image, a class
     * outside classes.txt, an empty shard and a truncated one each fail naming the shard, the entry and
     * {@code --bad-records skip}; under skip they are counted and the other samples keep dense ids.
     */
    @Test
    void badTarSamplesFailNamingShardAndEntryOrAreSkipped() throws Exception {
        Path root = dir.resolve("bad-shards");
        java.util.function.IntFunction<byte[]> png = seed -> {
            try {
                return TestDatasets.encode(TestDatasets.textured(8, 8, seed, false), "png");
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        };
        byte[] one = "1".getBytes();
        byte[] zero = "0".getBytes();
        java.util.Map<String, byte[]> good = new java.util.LinkedHashMap<>();
        for (int i = 0; i < 6; i++) {
            good.put("s/a" + i + ".png", png.apply(i));
            good.put("s/a" + i + ".cls", i % 2 == 0 ? zero : one);
        }
        TestDatasets.tar(root.resolve("train/shard-000000.tar"), good);
        java.util.Map<String, byte[]> val = new java.util.LinkedHashMap<>();
        val.put("v0.png", png.apply(10));
        val.put("v0.cls", zero);
        val.put("v1.json", "{}".getBytes());
        val.put("v1.png", png.apply(11));
        val.put("v1.cls", one);
        TestDatasets.tar(root.resolve("val/shard-000000.tar"), val);
        Files.writeString(root.resolve("classes.txt"), "zero\none\n");
        DatasetOptions skip = DatasetOptions.defaults().withImageSize(8, 8).withBadRecords(BadRecordPolicy.SKIP);

        java.util.Map<String, java.util.Map<String, byte[]>> cases = new java.util.LinkedHashMap<>();
        cases.put("b1.png", java.util.Map.of("b1.png", png.apply(20)));
        cases.put("b2.cls", java.util.Map.of("b2.cls", one));
        cases.put("b3.cls", java.util.Map.of("b3.png", png.apply(21), "b3.cls", "7".getBytes()));
        for (java.util.Map.Entry<String, java.util.Map<String, byte[]>> c : cases.entrySet()) {
            java.util.Map<String, byte[]> entries = new java.util.TreeMap<>(c.getValue());
            Path shard = root.resolve("train/shard-000001.tar");
            TestDatasets.tar(shard, entries);
            String message = assertThrows(DatasetException.class, () -> DistributedDataset.open(sc, root.toString(),
                    skip.withBadRecords(BadRecordPolicy.FAIL)), c.getKey()).getMessage();
            assertTrue(message.contains("shard-000001.tar") && message.contains(c.getKey()) && message.contains("--bad-records skip"),
                    message);
            DistributedDataset skipped = DistributedDataset.open(sc, root.toString(), skip);
            try {
                assertEquals(6, skipped.trainSize(), c.getKey());
                assertEquals(2, skipped.testSize(), c.getKey());
                assertEquals(1, skipped.skipped().size(), skipped.skipped().toString());
                assertTrue(skipped.skipped().get(0).toString().contains(c.getKey()), skipped.skipped().toString());
                assertEquals(List.of(0, 1, 2, 3, 4, 5), skipped.train(sc, 2).keys().collect().stream().sorted().toList());
            } finally {
                skipped.release();
            }
            Files.delete(shard);
        }

        Path empty = root.resolve("train/shard-000001.tar");
        TestDatasets.tar(empty, java.util.Map.of());
        String message = assertThrows(DatasetException.class, () -> DistributedDataset.open(sc, root.toString(),
                skip.withBadRecords(BadRecordPolicy.FAIL))).getMessage();
        assertTrue(message.contains("shard-000001.tar") && message.contains("empty") && message.contains("--bad-records skip"), message);
        DistributedDataset withEmpty = DistributedDataset.open(sc, root.toString(), skip);
        try {
            assertEquals(6, withEmpty.trainSize());
            assertEquals(1, withEmpty.skipped().size(), withEmpty.skipped().toString());
        } finally {
            withEmpty.release();
        }
        Files.delete(empty);

        byte[] whole = Files.readAllBytes(root.resolve("train/shard-000000.tar"));
        // Cut inside the image of the fourth sample (each sample: two 512-byte headers and padded contents).
        int cut = 0;
        try (var in = new org.apache.commons.compress.archivers.tar.TarArchiveInputStream(
                new java.io.ByteArrayInputStream(whole))) {
            for (var e = in.getNextEntry(); e != null; e = in.getNextEntry()) {
                if (e.getName().equals("s/a3.png")) {
                    cut = (int) in.getBytesRead() + 20;
                    break;
                }
            }
        }
        Files.write(root.resolve("train/shard-000000.tar"), java.util.Arrays.copyOf(whole, cut));
        message = assertThrows(DatasetException.class, () -> DistributedDataset.open(sc, root.toString(),
                skip.withBadRecords(BadRecordPolicy.FAIL))).getMessage();
        assertTrue(message.contains("shard-000000.tar") && message.contains("truncated") && message.contains("s/a3.png")
                && message.contains("--bad-records skip"), message);
        DistributedDataset truncated = DistributedDataset.open(sc, root.toString(), skip);
        try {
            assertEquals(3, truncated.trainSize(), "the three complete samples before the cut");
            assertEquals(1, truncated.skipped().size(), truncated.skipped().toString());
            assertTrue(truncated.skipped().get(0).source().contains("s/a3.png"), truncated.skipped().toString());
        } finally {
            truncated.release();
        }
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
