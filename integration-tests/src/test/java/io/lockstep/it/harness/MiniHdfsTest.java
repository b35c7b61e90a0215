package io.lockstep.it.harness;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.apache.hadoop.fs.BlockLocation;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** An in-process HDFS written and read through the Hadoop client and through Spark (local mode). */
class MiniHdfsTest {
    private static final Logger LOG = LoggerFactory.getLogger(MiniHdfsTest.class);
    private static MiniHdfs hdfs;

    @BeforeAll
    static void startHdfs() {
        hdfs = MiniHdfs.start();
        LOG.info("MEASURED MiniHdfs (1 namenode + 1 datanode) ready in {} ms", hdfs.startupTime().toMillis());
    }

    @AfterAll
    static void stopHdfs() {
        if (hdfs != null) {
            hdfs.close();
        }
    }

    @Test
    void bytesWrittenThroughHdfsAreStoredOnTheDataNodeAndReadBack() throws IOException {
        byte[] data = new byte[3 * 1024 * 1024 + 17];
        new Random(42).nextBytes(data);
        FileSystem fs = hdfs.fileSystem();
        Path file = new Path("/smoke/random.bin");
        try (OutputStream out = fs.create(file)) {
            out.write(data);
        }
        FileStatus status = fs.getFileStatus(file);
        assertEquals(data.length, status.getLen());
        assertEquals("hdfs", status.getPath().toUri().getScheme());
        BlockLocation[] blocks = fs.getFileBlockLocations(status, 0, status.getLen());
        assertTrue(blocks.length >= 1, "no blocks for " + file);
        String[] replicas = blocks[0].getNames();
        assertTrue(replicas.length == 1 && replicas[0].startsWith("127.0.0.1:"),
                () -> "block 0 is not on the one loopback datanode: " + Arrays.toString(replicas));
        byte[] back = new byte[data.length];
        try (FSDataInputStream in = fs.open(file)) {
            in.readFully(back);
            assertEquals(-1, in.read(), "file longer than written");
        }
        assertArrayEquals(data, back);
    }

    @Test
    void sparkReadsTextFromHdfsUri() throws IOException {
        List<String> lines = IntStream.range(0, 1000).mapToObj(i -> "line-" + i + "-" + Integer.toHexString(i * 7919)).toList();
        Path file = new Path("/smoke/lines.txt");
        try (OutputStream out = hdfs.fileSystem().create(file)) {
            out.write((String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8));
        }
        SparkConf conf = new SparkConf().setMaster("local[2]").setAppName("minihdfs-smoke")
                .set("spark.ui.enabled", "false").set("spark.driver.host", SparkHome.LOOPBACK);
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            List<String> read = sc.textFile(hdfs.uri("/smoke/lines.txt"), 2).collect();
            assertEquals(lines, read);
        }
    }
}
