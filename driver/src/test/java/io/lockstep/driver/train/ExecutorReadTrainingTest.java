package io.lockstep.driver.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.driver.ConsoleCapture;
import io.lockstep.driver.Main;
import io.lockstep.driver.data.DatasetOptions;
import io.lockstep.driver.data.DatasetSource;
import io.lockstep.driver.data.LoadedDataset;
import io.lockstep.driver.data.TestDatasets;
import io.lockstep.driver.report.RunOutput;
import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.LabeledRecord;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Training on a dataset the executors read ({@code --read-on executors}) is the same training as on
 * one the driver reads (same records, ids and plans: bit-identical parameters), and the synchronous
 * contract holds on it, N replicas x B equal to one replica x N·B, also when bad files are skipped
 * (they are numbered out before planning, so no replica gets a short batch). Tar shards holding the
 * same records in the same order train the same parameters.
 */
class ExecutorReadTrainingTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    private static Path images;

    /**
     * Two classes (bar left or right), mixed sizes, PNG and JPEG, plus a corrupt PNG, a truncated JPEG and a
     * PNG damaged inside its pixels (which only a decode finds: it must be numbered out before planning too).
     */
    @BeforeAll
    static void writeImages() throws IOException {
        images = dir.resolve("bars");
        Random random = new Random(23);
        for (String split : new String[]{"train", "val"}) {
            int count = split.equals("train") ? 72 : 16;
            for (int i = 0; i < count; i++) {
                boolean left = i % 2 == 0;
                Path file = images.resolve(split).resolve((left ? "left" : "right") + "/img" + i + (i % 3 == 0 ? ".jpg" : ".png"));
                Files.createDirectories(file.getParent());
                Files.write(file, bar(20 + random.nextInt(16), left, random, i % 3 == 0 ? "jpg" : "png"));
            }
        }
        Files.write(images.resolve("train/left/corrupt.png"), new byte[]{(byte) 0x89, 'P', 'N', 'G', 1, 2, 3});
        byte[] jpeg = bar(32, false, random, "jpg");
        Files.write(images.resolve("train/right/truncated.jpg"), Arrays.copyOf(jpeg, jpeg.length / 2));
        Files.write(images.resolve("train/left/damaged.png"), TestDatasets.damageIdat(bar(32, true, random, "png")));
    }

    private static byte[] bar(int size, boolean left, Random random, String format) throws IOException {
        BufferedImage image = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setColor(new Color(random.nextInt(60), random.nextInt(60), random.nextInt(60)));
        g.fillRect(0, 0, size, size);
        g.setColor(Color.WHITE);
        g.fillRect(left ? random.nextInt(size / 4) : size / 2 + random.nextInt(size / 4), random.nextInt(size / 4), size / 4, size / 2);
        g.dispose();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(image, format, out);
        return out.toByteArray();
    }

    private static float[] train(String name, String data, String... extra) {
        Path out = dir.resolve(name);
        List<String> args = new ArrayList<>(List.of("train", "--model", "lenet5", "--data", data, "--epochs", "2",
                "--max-steps-per-epoch", "3", "--lr", "0.02", "--lr-scaling", "none", "--lr-decay", "none", "--seed", "5",
                "--out", out.toString()));
        args.addAll(Arrays.asList(extra));
        assertEquals(0, Main.run(args.toArray(String[]::new)), "train " + name);
        return ModelFile.readGraph(out.resolve(RunOutput.MODEL).toFile()).params().toFloatVector();
    }

    private static double maxDifference(float[] a, float[] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }

    @Test
    void imageFolderWithBadFilesTrainsAsOneReplicaWithTheGlobalBatch() throws Exception {
        String[] common = {"--image-size", "28", "--channels", "1", "--bad-records", "skip", "--read-on", "executors"};
        float[] twoReplicas = train("two", images.toString(), concat(common, "--replicas", "2", "--batch-size", "8"));
        float[] oneReplica = train("one", images.toString(), concat(common, "--replicas", "1", "--batch-size", "16"));
        double diff = maxDifference(oneReplica, twoReplicas);
        assertTrue(diff < 1e-5, "2 replicas x 8 vs 1 replica x 16 with three bad files skipped: max |difference| " + diff);

        // The same good images, in the same order, as tar shards: the same records and ids, so the same training.
        Path shards = dir.resolve("bars-shards");
        DatasetOptions skip = DatasetOptions.defaults().withImageSize(28, 28).withChannels(1).withBadRecords(BadRecordPolicy.SKIP);
        LoadedDataset folder = DatasetSource.open(images.toString(), new org.apache.hadoop.conf.Configuration(), skip);
        writeShards(shards.resolve("train"), folder.train(), 25);
        writeShards(shards.resolve("val"), folder.test(), 25);
        float[] fromShards = train("shards", shards.toString(), "--image-size", "28", "--channels", "1", "--replicas", "2",
                "--batch-size", "8");
        assertArrayEquals(twoReplicas, fromShards, "tar shards holding the image folder's records train the same parameters");
        JsonNode shardSummary = JSON.readTree(dir.resolve("shards").resolve(RunOutput.SUMMARY).toFile());
        assertTrue(shardSummary.get("dataset").asText().startsWith("tar-shards dataset"), shardSummary.get("dataset").asText());

        JsonNode summary = JSON.readTree(dir.resolve("two").resolve(RunOutput.SUMMARY).toFile());
        String skipped = summary.get("skipped_records").toString();
        assertEquals(3, summary.get("skipped_records_count").asInt(), skipped);
        assertTrue(skipped.contains("corrupt.png") && skipped.contains("truncated.jpg") && skipped.contains("damaged.png"), skipped);
        assertTrue(summary.get("dataset").asText().contains("read on the executors"), summary.get("dataset").asText());
    }

    @Test
    void idxReadOnExecutorsTrainsAsOnTheDriverWithAugmentation() {
        String subset = SingleReplicaTrainingTest.SUBSET.toString();
        String[] augmented = {"--replicas", "2", "--batch-size", "16", "--crop-padding", "2", "--hflip"};
        float[] onDriver = train("idx-driver", subset, concat(augmented, "--read-on", "driver"));
        float[] onExecutors = train("idx-executors", subset, concat(augmented, "--read-on", "executors"));
        assertArrayEquals(onDriver, onExecutors, "same records, ids, plans and augmentation: the same parameters");
    }

    /**
     * {@code evaluate} and {@code predict} read on the executors give what they give reading on the driver
     * (same records, ids and decoding), bad files skipped; {@code evaluate} reads tar shards holding the same
     * test records too (those only the executors read).
     */
    @Test
    void evaluateAndPredictReadOnExecutorsAsOnTheDriver() throws Exception {
        String[] data = {"--image-size", "28", "--channels", "1", "--bad-records", "skip"};
        train("infer", images.toString(), concat(data, "--replicas", "1", "--batch-size", "8"));
        String model = dir.resolve("infer").resolve(RunOutput.MODEL).toString();
        String[] evaluate = concat(new String[]{"evaluate", "--model-file", model, "--master", "local[2]", "--batch-size", "5"}, data);
        String onDriver = run(concat(evaluate, "--data", images.toString(), "--read-on", "driver"));
        assertTrue(onDriver.contains("on 16 test images"), onDriver);
        assertEquals(onDriver, run(concat(evaluate, "--data", images.toString(), "--read-on", "executors")));

        Path shards = dir.resolve("infer-shards");
        LoadedDataset folder = DatasetSource.open(images.toString(), new org.apache.hadoop.conf.Configuration(),
                DatasetOptions.defaults().withImageSize(28, 28).withChannels(1).withBadRecords(BadRecordPolicy.SKIP));
        writeShards(shards.resolve("train"), folder.train(), 40);
        writeShards(shards.resolve("val"), folder.test(), 10);
        Files.writeString(shards.resolve("classes.txt"), String.join("\n", folder.classNames()) + "\n");
        assertEquals(onDriver, run(concat(evaluate, "--data", shards.toString())), "tar shards, read on the executors");

        String[] predict = concat(new String[]{"predict", "--model-file", model, "--master", "local[2]", "--data", images.toString(),
                "--split", "all"}, data);
        run(concat(predict, "--out", dir.resolve("predicted-driver").toString(), "--read-on", "driver"));
        run(concat(predict, "--out", dir.resolve("predicted-executors").toString(), "--read-on", "executors"));
        Map<String, float[]> driverRows = predictions(dir.resolve("predicted-driver"));
        assertEquals(folder.train().size() + folder.test().size(), driverRows.size());
        assertTrue(driverRows.keySet().stream().allMatch(id -> id.endsWith(".png") || id.endsWith(".jpg")),
                "ids are the images' paths: " + driverRows.keySet());
        Map<String, float[]> executorRows = predictions(dir.resolve("predicted-executors"));
        assertEquals(driverRows.keySet(), executorRows.keySet());
        for (Map.Entry<String, float[]> row : driverRows.entrySet()) {
            // Label and predicted class exactly; probabilities to float rounding, since a record's batch
            // neighbours differ between the two paths and the batched kernels round differently.
            float[] expected = row.getValue();
            float[] actual = executorRows.get(row.getKey());
            assertEquals(expected[0], actual[0], row.getKey());
            assertEquals(expected[1], actual[1], row.getKey());
            assertArrayEquals(expected, actual, 1e-6f, row.getKey());
        }
    }

    private static String run(String... args) {
        ConsoleCapture.Result result = ConsoleCapture.stdout(() -> Main.run(args));
        assertEquals(0, result.exit(), String.join(" ", args) + "\n" + result.text());
        return result.text();
    }

    /** Every row of a predict output: id to {label, predicted, probabilities...}. */
    private static Map<String, float[]> predictions(Path out) throws IOException {
        Map<String, float[]> rows = new TreeMap<>();
        try (var parts = Files.list(out)) {
            for (Path part : parts.filter(p -> p.getFileName().toString().endsWith(".parquet")).toList()) {
                try (ParquetReader<Group> reader = ParquetReader.builder(new GroupReadSupport(),
                        new org.apache.hadoop.fs.Path(part.toUri())).build()) {
                    for (Group row = reader.read(); row != null; row = reader.read()) {
                        Group probabilities = row.getGroup("probabilities", 0);
                        int classes = probabilities.getFieldRepetitionCount("list");
                        float[] values = new float[2 + classes];
                        values[0] = row.getInteger("label", 0);
                        values[1] = row.getInteger("predicted", 0);
                        for (int c = 0; c < classes; c++) {
                            values[2 + c] = probabilities.getGroup("list", c).getFloat("element", 0);
                        }
                        rows.put(row.getString("id", 0), values);
                    }
                }
            }
        }
        return rows;
    }

    /** A Parquet dataset with class names as labels (the images of the folder above) trains like any other. */
    @Test
    void parquetWithNamedLabelsTrains() throws Exception {
        Path parquet = dir.resolve("parquet");
        org.apache.spark.sql.SparkSession spark = org.apache.spark.sql.SparkSession.builder().master("local[1]")
                .config("spark.ui.enabled", "false").getOrCreate();
        try {
            for (String split : new String[]{"train", "val"}) {
                spark.read().format("binaryFile").option("recursiveFileLookup", "true").option("pathGlobFilter", "img*")
                        .load(images.resolve(split).toString())
                        .withColumn("side", org.apache.spark.sql.functions.regexp_extract(
                                org.apache.spark.sql.functions.col("path"), "/(left|right)/", 1))
                        .selectExpr("content", "side").write().parquet(parquet.resolve(split).toString());
            }
        } finally {
            spark.stop();
        }
        train("parquet", parquet.toString(), "--image-size", "28", "--channels", "1", "--replicas", "2", "--batch-size", "8",
                "--image-column", "content", "--label-column", "side");
        JsonNode summary = JSON.readTree(dir.resolve("parquet").resolve(RunOutput.SUMMARY).toFile());
        assertTrue(summary.get("dataset").asText().startsWith("parquet dataset"), summary.get("dataset").asText());
        assertEquals(0, summary.get("skipped_records_count").asInt());
    }

    /** WebDataset layout: shard-NNNNNN.tar files of NNNNNN.png|.jpg with NNNNNN.cls, the records in order. */
    private static void writeShards(Path dir, List<LabeledRecord> records, int perShard) throws IOException {
        Files.createDirectories(dir);
        for (int first = 0; first < records.size(); first += perShard) {
            Path file = dir.resolve(String.format("shard-%06d.tar", first / perShard));
            try (TarArchiveOutputStream out = new TarArchiveOutputStream(Files.newOutputStream(file))) {
                for (int i = first; i < Math.min(records.size(), first + perShard); i++) {
                    byte[] image = records.get(i).payload();
                    String key = String.format("%06d", i);
                    put(out, key + (image[0] == (byte) 0x89 ? ".png" : ".jpg"), image);
                    put(out, key + ".cls", Integer.toString(records.get(i).label()).getBytes(StandardCharsets.US_ASCII));
                }
            }
        }
    }

    private static void put(TarArchiveOutputStream out, String name, byte[] bytes) throws IOException {
        TarArchiveEntry entry = new TarArchiveEntry(name);
        entry.setSize(bytes.length);
        out.putArchiveEntry(entry);
        out.write(bytes);
        out.closeArchiveEntry();
    }

    private static String[] concat(String[] a, String... b) {
        List<String> all = new ArrayList<>(Arrays.asList(a));
        all.addAll(Arrays.asList(b));
        return all.toArray(String[]::new);
    }
}
