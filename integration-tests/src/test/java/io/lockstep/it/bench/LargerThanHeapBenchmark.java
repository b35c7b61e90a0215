package io.lockstep.it.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.it.harness.ManagedProcess;
import io.lockstep.it.harness.MiniHdfs;
import io.lockstep.it.harness.TestRuntime;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.MemoryCacheImageOutputStream;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Benchmark and acceptance run (prints figures; not part of the default run because generating and
 * training on 1.2 GB takes many minutes on a small machine): an image folder larger than the heap of
 * the JVM that trains on it. Writes {@code lockstep.bench.bytes} (default 1.2 GB) of 224x224 JPEGs
 * (noise, which JPEG cannot compress, plus a bright bar on the left or the right: the two classes) to an
 * in-process HDFS, then runs {@code lockstep train --read-on executors} in a separate JVM with
 * {@code -Xmx512m} in {@code local[2]}, where driver and executors share that heap: the driver only
 * lists, the executors' cache spills to disk. Asserts that the epoch finishes with accuracy above chance.
 *
 * <pre>mvn -B -pl integration-tests -am test -Dtest=LargerThanHeapBenchmark -Dlockstep.bench=true \
 *     -Dsurefire.failIfNoSpecifiedTests=false [-Dlockstep.bench.bytes=1200000000]</pre>
 */
@EnabledIfSystemProperty(named = "lockstep.bench", matches = "true")
class LargerThanHeapBenchmark {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int SIZE = 224;

    @Test
    void oneEpochOnAnImageFolderTwiceTheDriversHeap() throws Exception {
        long target = Long.getLong("lockstep.bench.bytes", 1_200_000_000L);
        String heap = System.getProperty("lockstep.bench.heap", "512m");
        java.nio.file.Path work = TestRuntime.newWorkDir("larger-than-heap");
        try (MiniHdfs hdfs = MiniHdfs.start()) {
            long t0 = System.nanoTime();
            long[] written = write(hdfs.fileSystem(), target);
            double writeSeconds = (System.nanoTime() - t0) / 1e9;
            System.out.printf("BENCH generated %,d JPEGs of %dx%d, %,d bytes (%.2f GB) on HDFS in %.0f s%n", written[0], SIZE, SIZE,
                    written[1], written[1] / 1e9, writeSeconds);

            java.nio.file.Path out = work.resolve("out");
            List<String> command = new ArrayList<>();
            command.add(TestRuntime.javaExecutable().toString());
            command.add("-Xmx" + heap);
            command.addAll(TestRuntime.jvmFlags());
            command.addAll(List.of("-cp", TestRuntime.classpathString(), "io.lockstep.driver.Main", "train",
                    "--model", "lenet5", "--data", hdfs.uri("/bars"), "--read-on", "executors", "--image-size", "28",
                    "--channels", "1", "--replicas", "2", "--batch-size", "32", "--epochs", "1", "--lr", "0.01",
                    "--master", "local[2]", "--no-spark-ui", "--out", out.toString()));
            ProcessBuilder builder = new ProcessBuilder(command);
            builder.environment().put("SPARK_LOCAL_DIRS", Files.createDirectories(work.resolve("spark-local")).toString());
            long t1 = System.nanoTime();
            try (ManagedProcess train = ManagedProcess.start("train", builder, work)) {
                int code = train.awaitExit(Duration.ofMinutes(60));
                double trainSeconds = (System.nanoTime() - t1) / 1e9;
                assertEquals(0, code, () -> "training failed:\n" + ManagedProcess.tail(train.stderrFile(), 60));
                JsonNode summary = JSON.readTree(out.resolve("summary.json").toFile());
                double accuracy = summary.get("test_accuracy").asDouble();
                System.out.printf("BENCH -Xmx%s, local[2], 2 replicas x 32, 1 epoch: %.0f s in the training JVM, %.1f images/s,"
                                + " test accuracy %.3f; %s%n", heap, trainSeconds, summary.get("images_per_second").asDouble(),
                        accuracy, summary.get("dataset").asText());
                assertTrue(accuracy > 0.6, "two classes, chance is 0.5: " + accuracy);
            }
        }
    }

    /** Writes the images; returns {files, bytes}. 90 % training, 10 % validation, classes alternating. */
    private static long[] write(FileSystem fs, long target) throws IOException {
        SplittableRandom random = new SplittableRandom(11);
        ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
        ImageWriteParam param = writer.getDefaultWriteParam();
        param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
        param.setCompressionQuality(0.9f);
        BufferedImage image = new BufferedImage(SIZE, SIZE, BufferedImage.TYPE_INT_RGB);
        long bytes = 0;
        long files = 0;
        while (bytes < target) {
            boolean left = files % 2 == 0;
            for (int y = 0; y < SIZE; y++) {
                for (int x = 0; x < SIZE; x++) {
                    boolean bar = y > SIZE / 4 && y < 3 * SIZE / 4 && (left ? x < SIZE / 3 : x > 2 * SIZE / 3) && x % 56 < 40;
                    int v = bar ? 160 + random.nextInt(96) : random.nextInt(128);
                    image.setRGB(x, y, (v << 16) | (random.nextInt(256) << 8) | random.nextInt(256));
                }
            }
            ByteArrayOutputStream buffer = new ByteArrayOutputStream(200_000);
            try (MemoryCacheImageOutputStream stream = new MemoryCacheImageOutputStream(buffer)) {
                writer.setOutput(stream);
                writer.write(null, new IIOImage(image, null, null), param);
            }
            String split = (files / 2) % 10 == 9 ? "val" : "train";
            Path path = new Path("/bars/" + split + "/" + (left ? "left" : "right") + "/img" + files + ".jpg");
            try (FSDataOutputStream out = fs.create(path)) {
                buffer.writeTo(out);
            }
            bytes += buffer.size();
            files++;
        }
        writer.dispose();
        return new long[]{files, bytes};
    }
}
