package io.lockstep.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.it.harness.MiniHdfs;
import io.lockstep.it.harness.SparkSubmitter;
import io.lockstep.it.harness.StandaloneSparkCluster;
import io.lockstep.it.harness.SubmitResult;
import io.lockstep.it.harness.TestRuntime;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.function.Executable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A dataset at least twice the driver's heap trains: 1.2 GB of PNGs on the in-process HDFS, as an image
 * folder, as Parquet and as tar shards, each trained for one epoch by 2 replicas on a standalone cluster
 * (two executor JVMs) under a driver JVM of 512 MB heap ({@code spark.driver.memory}), and the image folder once more in
 * {@code local[2]}, where driver and executors share that one heap (the executors' cache spills to disk).
 * Each run must end above chance.
 *
 * <p>The images are 512x512 RGB noise (incompressible, so the bytes are real) with a bright block on the
 * left or the right (the two classes, plain after the resize to 28x28 gray), written as PNG with stored
 * (uncompressed) deflate blocks from one pool of noise at varying offsets: generating 1.2 GB costs a
 * copy and a CRC, not an encoder.
 *
 * <pre>mvn -B -pl integration-tests -am verify -Dtest=LargerThanHeapTest -Dlockstep.it.largerThanHeap=true \
 *     -Dsurefire.failIfNoSpecifiedTests=false</pre>
 *
 * <p>{@code -Dlockstep.it.largerThanHeap.runs=parquet-standalone,...} runs only the named runs (and writes only the
 * layouts they read); {@code -Dlockstep.it.largerThanHeap.executorJavaOptions=...} and {@code ...driverJavaOptions=...}
 * add executor and driver JVM flags (a GC log, a heap dump on OutOfMemoryError; in {@code local[2]} only the driver's
 * apply). Every run is attempted and the failures reported together.
 */
@EnabledIfSystemProperty(named = "lockstep.it.largerThanHeap", matches = "true",
        disabledReason = "moves 3.6 GB through HDFS, Spark's cache and shuffle: run on demand (see the class comment)")
class LargerThanHeapTest {
    private static final Logger LOG = LoggerFactory.getLogger(LargerThanHeapTest.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long DATASET_BYTES = 1_200_000_000L;
    /** The driver JVM's heap: the dataset is more than twice this. */
    private static final int DRIVER_HEAP_MB = 512;
    private static final int SIDE = 512;
    private static final int PER_SHARD = 100;
    private static final int ROWS_PER_GROUP = 40;
    /** A run takes 1-2 min on an idle 2-core machine; shared build machines at a load of 15-20 made that over 10. */
    private static final Duration RUN_TIMEOUT = Duration.ofMinutes(20);
    private static final String RUNS = System.getProperty("lockstep.it.largerThanHeap.runs", "");
    private static final String EXECUTOR_OPTIONS = System.getProperty("lockstep.it.largerThanHeap.executorJavaOptions", "");
    private static final String DRIVER_OPTIONS = System.getProperty("lockstep.it.largerThanHeap.driverJavaOptions", "");
    /** Each run: its name, whether it runs on the standalone cluster (else local[2]), and the layout it reads. */
    private static final String[][] RUN_TABLE = {{"folder-standalone", "standalone", "folder"},
            {"parquet-standalone", "standalone", "parquet"}, {"shards-standalone", "standalone", "shards"},
            {"folder-local", "local[2]", "folder"}};

    private static MiniHdfs hdfs;
    private static StandaloneSparkCluster cluster;
    private static int images;

    @BeforeAll
    static void writeDataset() throws IOException {
        hdfs = MiniHdfs.start();
        long start = System.nanoTime();
        List<String> layouts = selected().stream().map(run -> run[2]).distinct().toList();
        images = write(hdfs.fileSystem(), layouts);
        LOG.info("MEASURED larger-than-heap: {} PNGs of {}x{} ({} bytes each way) written as {} to HDFS in {} s (HDFS up in {} s)",
                images, SIDE, SIDE, DATASET_BYTES, layouts, (System.nanoTime() - start) / 1_000_000_000L, hdfs.startupTime().toSeconds());
        long clusterStart = System.nanoTime();
        cluster = StandaloneSparkCluster.builder().workers(2).coresPerWorker(1).memoryPerWorkerMb(1536).start();
        LOG.info("MEASURED larger-than-heap: standalone cluster up in {} s", (System.nanoTime() - clusterStart) / 1_000_000_000L);
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.close();
        }
        if (hdfs != null) {
            hdfs.close();
        }
    }

    /** The runs {@code lockstep.it.largerThanHeap.runs} names, or all of them. */
    private static List<String[]> selected() {
        List<String> wanted = RUNS.isBlank() ? List.of() : List.of(RUNS.split(","));
        List<String[]> runs = new ArrayList<>();
        for (String[] run : RUN_TABLE) {
            if (wanted.isEmpty() || wanted.contains(run[0])) {
                runs.add(run);
            }
        }
        assertFalse(runs.isEmpty(), "lockstep.it.largerThanHeap.runs=" + RUNS + " names none of the runs");
        return runs;
    }

    @Test
    void oneEpochOnEachLayoutTwiceTheDriversHeap() {
        List<Executable> runs = new ArrayList<>();
        for (String[] run : selected()) {
            runs.add(() -> train(run[0], run[1].equals("standalone") ? cluster.masterUrl() : run[1], "/big/" + run[2]));
        }
        assertAll(runs);
    }

    /**
     * Submits one training run with spark-submit, as a user does: the driver JVM gets {@link #DRIVER_HEAP_MB} MB of heap
     * through {@code spark.driver.memory}, and the executors Spark's and Lockstep's JVM flags through the
     * Spark home's defaults (a driver started as a plain JVM would hand its executors neither).
     */
    private static void train(String name, String master, String data) throws IOException {
        java.nio.file.Path out = TestRuntime.newWorkDir("larger-than-heap-" + name).resolve("out");
        SparkSubmitter submitter = master.startsWith("local")
                ? SparkSubmitter.using(cluster.sparkHome(), master, cluster.workDir().resolve("submissions"))
                : SparkSubmitter.to(cluster);
        if (!EXECUTOR_OPTIONS.isBlank()) {
            submitter.conf("spark.executor.extraJavaOptions", EXECUTOR_OPTIONS);
        }
        if (!DRIVER_OPTIONS.isBlank()) {
            submitter.conf("spark.driver.extraJavaOptions", DRIVER_OPTIONS);
        }
        SubmitResult result = submitter.name(name).mainClass(Lockstep.MAIN).appJar(Lockstep.submitJar())
                .conf("spark.driver.memory", DRIVER_HEAP_MB + "m")
                .conf("spark.executor.memory", "1g")
                .args("train", "--model", "lenet5", "--data", hdfs.uri(data), "--read-on", "executors",
                        "--image-size", "28", "--channels", "1", "--replicas", "2", "--batch-size", "16", "--epochs", "1",
                        "--lr", "0.02", "--lr-scaling", "none", "--lr-decay", "none", "--no-spark-ui", "--out", out.toString())
                .run(RUN_TIMEOUT);
        assertEquals(0, result.exitCode(), () -> name + " failed: " + result.describe());
        JsonNode summary = JSON.readTree(out.resolve("summary.json").toFile());
        double accuracy = summary.get("test_accuracy").asDouble();
        LOG.info("MEASURED larger-than-heap {}: driver heap {} MB, {} s wall in the run, test accuracy {}; {}", name,
                DRIVER_HEAP_MB, summary.get("wall_seconds").asDouble(), accuracy, summary.get("dataset").asText());
        assertTrue(accuracy > 0.6, name + ": two classes, chance is 0.5, test accuracy " + accuracy);
    }

    /**
     * Writes {@link #DATASET_BYTES} of PNGs once per layout named ({@code folder}, {@code parquet}, {@code shards}),
     * every tenth pair to the validation split; returns the number of images.
     */
    private static int write(FileSystem fs, List<String> layouts) throws IOException {
        boolean folder = layouts.contains("folder");
        boolean parquet = layouts.contains("parquet");
        boolean tar = layouts.contains("shards");
        SplittableRandom random = new SplittableRandom(7);
        byte[] pool = new byte[8 << 20];
        for (int i = 0; i < pool.length; i += 8) {
            long bits = random.nextLong();
            for (int b = 0; b < 8; b++) {
                pool[i + b] = (byte) (bits >>> (8 * b));
            }
        }
        MessageType schema = MessageTypeParser.parseMessageType("message image { required binary image; required int32 label; }");
        SimpleGroupFactory groups = new SimpleGroupFactory(schema);
        PngWriter png = new PngWriter(SIDE);
        long bytes = 0;
        int count = 0;
        // try-with-resources passes over null writers: the layouts not asked for.
        try (ParquetWriter<Group> trainRows = parquet ? parquet(fs, "/big/parquet/train/part-0.parquet", schema) : null;
             ParquetWriter<Group> valRows = parquet ? parquet(fs, "/big/parquet/val/part-0.parquet", schema) : null) {
            TarArchiveOutputStream[] shards = new TarArchiveOutputStream[2];
            int[] inShard = new int[2];
            int[] shardIndex = new int[2];
            while (bytes < DATASET_BYTES) {
                int label = count % 2;
                boolean val = (count / 2) % 10 == 9;
                byte[] image = png.encode(pool, random.nextInt(pool.length - png.rawBytes()), label);
                String split = val ? "val" : "train";
                if (folder) {
                    try (FSDataOutputStream out = fs.create(new Path("/big/folder/" + split + "/" + (label == 0 ? "left" : "right")
                            + "/img" + count + ".png"))) {
                        out.write(image);
                    }
                }
                if (parquet) {
                    (val ? valRows : trainRows).write(groups.newGroup().append("image", Binary.fromConstantByteArray(image))
                            .append("label", label));
                }
                int s = val ? 1 : 0;
                if (!tar) {
                    bytes += image.length;
                    count++;
                    continue;
                }
                if (shards[s] == null || inShard[s] == PER_SHARD) {
                    if (shards[s] != null) {
                        shards[s].close();
                    }
                    shards[s] = new TarArchiveOutputStream(fs.create(new Path(String.format("/big/shards/%s/shard-%06d.tar", split,
                            shardIndex[s]++))), 1 << 16);
                    inShard[s] = 0;
                }
                String key = String.format("%08d", count);
                put(shards[s], key + ".png", image);
                put(shards[s], key + ".cls", Integer.toString(label).getBytes(StandardCharsets.US_ASCII));
                inShard[s]++;
                bytes += image.length;
                count++;
            }
            for (TarArchiveOutputStream shard : shards) {
                if (shard != null) {
                    shard.close();
                }
            }
        }
        return count;
    }

    private static ParquetWriter<Group> parquet(FileSystem fs, String file, MessageType schema) throws IOException {
        return ExampleParquetWriter.builder(new Path(fs.getUri().toString() + file)).withConf(fs.getConf()).withType(schema)
                .withCompressionCodec(CompressionCodecName.UNCOMPRESSED)
                // Parquet's writer measures a row group only every 100 rows at the earliest, so 32 MB groups of
                // 0.8 MB images need a row limit too: an executor task holds one row group's column in memory.
                .withRowGroupSize(32L << 20).withRowGroupRowCountLimit(ROWS_PER_GROUP).build();
    }

    private static void put(TarArchiveOutputStream out, String name, byte[] bytes) throws IOException {
        TarArchiveEntry entry = new TarArchiveEntry(name);
        entry.setSize(bytes.length);
        out.putArchiveEntry(entry);
        out.write(bytes);
        out.closeArchiveEntry();
    }

    /**
     * RGB PNGs of noise copied from a pool, with stored deflate blocks (no compression effort): the class is
     * a bright block in the left or right third of the middle rows. Not thread-safe.
     */
    private static final class PngWriter {
        private final int side;
        private final byte[] raw;
        private final Deflater deflater = new Deflater(Deflater.NO_COMPRESSION);
        private final byte[] chunk = new byte[1 << 16];

        PngWriter(int side) {
            this.side = side;
            this.raw = new byte[side * (1 + 3 * side)];
        }

        int rawBytes() {
            return raw.length;
        }

        byte[] encode(byte[] pool, int offset, int label) throws IOException {
            System.arraycopy(pool, offset, raw, 0, raw.length);
            int stride = 1 + 3 * side;
            for (int y = 0; y < side; y++) {
                raw[y * stride] = 0;
                if (y >= side / 4 && y < 3 * side / 4) {
                    int from = label == 0 ? 0 : 2 * side / 3;
                    java.util.Arrays.fill(raw, y * stride + 1 + 3 * from, y * stride + 1 + 3 * (from + side / 3), (byte) 255);
                }
            }
            ByteArrayOutputStream png = new ByteArrayOutputStream(raw.length + 4096);
            DataOutputStream out = new DataOutputStream(png);
            out.write(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
            ByteArrayOutputStream header = new ByteArrayOutputStream();
            DataOutputStream h = new DataOutputStream(header);
            h.writeInt(side);
            h.writeInt(side);
            h.write(new byte[]{8, 2, 0, 0, 0});
            chunk(out, "IHDR", header.toByteArray());
            ByteArrayOutputStream idat = new ByteArrayOutputStream(raw.length + 1024);
            deflater.reset();
            deflater.setInput(raw);
            deflater.finish();
            while (!deflater.finished()) {
                int n = deflater.deflate(chunk);
                idat.write(chunk, 0, n);
            }
            chunk(out, "IDAT", idat.toByteArray());
            chunk(out, "IEND", new byte[0]);
            out.flush();
            return png.toByteArray();
        }

        private static void chunk(DataOutputStream out, String type, byte[] data) throws IOException {
            byte[] name = type.getBytes(StandardCharsets.US_ASCII);
            out.writeInt(data.length);
            out.write(name);
            out.write(data);
            CRC32 crc = new CRC32();
            crc.update(name);
            crc.update(data);
            out.writeInt((int) crc.getValue());
        }
    }
}
