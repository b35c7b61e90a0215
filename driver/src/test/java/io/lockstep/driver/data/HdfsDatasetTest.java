package io.lockstep.driver.data;

import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.LabeledRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every format read from an in-process HDFS gives the same records as from the local filesystem. One cluster for the class. */
class HdfsDatasetTest {
    @TempDir
    static Path local;
    private static MiniDFSCluster cluster;
    private static FileSystem hdfs;
    private static Configuration conf;

    @BeforeAll
    static void startHdfs() throws IOException {
        Configuration base = new Configuration();
        Path storage = local.resolve("hdfs");
        base.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, storage.toString());
        base.setInt("dfs.replication", 1);
        cluster = new MiniDFSCluster.Builder(base, storage.toFile()).numDataNodes(1).format(true).waitSafeMode(true).build();
        cluster.waitActive();
        conf = new Configuration(cluster.getConfiguration(0));
        hdfs = FileSystem.newInstance(cluster.getURI(), conf);

        TestDatasets.imageFolder(local.resolve("images"));
        TestDatasets.write(local.resolve("images/train/cat/broken.jpg"), TestDatasets.truncatedJpeg());
        TestDatasets.cifar10(local.resolve("cifar"));
        for (String name : List.of("images", "cifar")) {
            hdfs.copyFromLocalFile(new org.apache.hadoop.fs.Path(local.resolve(name).toUri()), new org.apache.hadoop.fs.Path("/data/" + name));
        }
        hdfs.copyFromLocalFile(new org.apache.hadoop.fs.Path(IdxDatasetTest.SHIPPED.toUri()), new org.apache.hadoop.fs.Path("/data/fmnist"));
    }

    @AfterAll
    static void stopHdfs() throws IOException {
        if (hdfs != null) {
            hdfs.close();
        }
        if (cluster != null) {
            cluster.shutdown(true);
        }
    }

    private static String uri(String path) {
        return cluster.getURI() + path;
    }

    private static void assertSameRecords(List<LabeledRecord> expected, List<LabeledRecord> actual) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(expected.get(i).label(), actual.get(i).label());
            assertEquals(expected.get(i).source(), actual.get(i).source());
            assertArrayEquals(expected.get(i).payload(), actual.get(i).payload());
        }
    }

    @Test
    void idxFromHdfs() {
        LoadedDataset fromHdfs = DatasetSource.open(uri("/data/fmnist"), conf);
        LoadedDataset fromDisk = DatasetSource.open(IdxDatasetTest.SHIPPED.toString(), new Configuration());
        assertSameRecords(fromDisk.train(), fromHdfs.train());
        assertSameRecords(fromDisk.test(), fromHdfs.test());
    }

    @Test
    void imageFolderFromHdfsWithABadFile() {
        DatasetOptions options = DatasetOptions.defaults().withImageSize(10, 10).withBadRecords(BadRecordPolicy.SKIP);
        LoadedDataset fromHdfs = DatasetSource.open(uri("/data/images"), conf, options);
        LoadedDataset fromDisk = DatasetSource.open(local.resolve("images").toString(), new Configuration(), options);
        assertEquals(List.of("bird", "cat", "dog"), fromHdfs.classNames());
        assertSameRecords(fromDisk.train(), fromHdfs.train());
        assertSameRecords(fromDisk.test(), fromHdfs.test());
        assertEquals(fromDisk.skipped(), fromHdfs.skipped());
        assertEquals("train/cat/broken.jpg", fromHdfs.skipped().get(0).source());
        String failure = assertThrows(DatasetException.class,
                () -> DatasetSource.open(uri("/data/images"), conf, options.withBadRecords(BadRecordPolicy.FAIL))).getMessage();
        assertTrue(failure.contains(uri("/data/images")) && failure.contains("train/cat/broken.jpg"), failure);
    }

    @Test
    void cifarFromHdfs() {
        LoadedDataset fromHdfs = DatasetSource.open(uri("/data/cifar"), conf);
        assertSameRecords(DatasetSource.open(local.resolve("cifar").toString(), new Configuration()).train(), fromHdfs.train());
    }

    @Test
    void missingHdfsPath() {
        String message = assertThrows(DatasetException.class, () -> DatasetSource.open(uri("/data/nothing"), conf)).getMessage();
        assertTrue(message.contains(uri("/data/nothing") + " does not exist"), message);
    }
}
