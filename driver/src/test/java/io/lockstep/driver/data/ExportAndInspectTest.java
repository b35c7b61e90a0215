package io.lockstep.driver.data;

import io.lockstep.driver.ConsoleCapture;
import io.lockstep.worker.data.LabeledRecord;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExportAndInspectTest {
    private static final Configuration CONF = new Configuration();

    @TempDir
    Path dir;

    /** A small IDX dataset: 30 training and 10 test 6x5 images, labels cycling 0..9, pixel (i * 7 + p) & 0xFF. */
    private Path smallIdx() throws IOException {
        Path idx = dir.resolve("idx");
        Files.createDirectories(idx);
        writeSplit(idx, "train", 30);
        writeSplit(idx, "t10k", 10);
        return idx;
    }

    private static void writeSplit(Path idx, String prefix, int n) throws IOException {
        List<byte[]> images = new ArrayList<>();
        byte[] labels = new byte[n];
        for (int i = 0; i < n; i++) {
            byte[] image = new byte[30];
            for (int p = 0; p < 30; p++) {
                image[p] = (byte) (i * 7 + p * 5);
            }
            images.add(image);
            labels[i] = (byte) (i % 10);
        }
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(idx.resolve(prefix + "-images-idx3-ubyte.gz")))) {
            IdxFiles.writeImages(o, 5, 6, images);
        }
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(idx.resolve(prefix + "-labels-idx1-ubyte.gz")))) {
            IdxFiles.writeLabels(o, labels);
        }
    }

    @Test
    void idxExportedAsPngFolderReadsBackWithTheSameClassesAndPixels() throws IOException {
        LoadedDataset idx = DatasetSource.open(smallIdx().toString(), CONF);
        Path folder = dir.resolve("png");
        assertEquals(40, ImageFolderExport.write(idx, folder.toString(), CONF));
        assertTrue(Files.isRegularFile(folder.resolve("train/3/00013.png")));
        try (var files = Files.walk(folder)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().endsWith(".crc")), "no checksum side files");
        }

        LoadedDataset images = DatasetSource.open(folder.toString(), CONF);
        assertEquals(idx.classNames(), images.classNames());
        assertEquals(idx.shape(), images.shape());
        assertArrayEquals(idx.classCounts(false), images.classCounts(false));
        assertArrayEquals(idx.classCounts(true), images.classCounts(true));
        // Same pixels: decode the IDX record and the PNG that came from it.
        for (LabeledRecord png : images.train()) {
            int index = Integer.parseInt(png.source().replaceAll(".*/0*(\\d+)\\.png", "$1"));
            LabeledRecord raw = idx.train().get(index);
            assertEquals(raw.label(), png.label());
            float[] a = idx.decoder().decode(List.of(raw), false, 0, 0, 0, -1).getFeatures().dup().data().asFloat();
            float[] b = images.decoder().decode(List.of(png), false, 0, 0, 0, -1).getFeatures().dup().data().asFloat();
            assertArrayEquals(a, b, 0f, png.source());
        }
    }

    @Test
    void cifarExportKeepsColorsAndLabelOrder() throws IOException {
        TestDatasets.cifar10(dir.resolve("cifar"));
        LoadedDataset cifar = DatasetSource.open(dir.resolve("cifar").toString(), CONF);
        ImageFolderExport.write(cifar, dir.resolve("out").toString(), CONF);
        LoadedDataset images = DatasetSource.open(dir.resolve("out").toString(), CONF);
        assertEquals(cifar.classNames(), images.classNames());
        LabeledRecord png = images.test().stream().filter(r -> r.source().endsWith("00002.png")).findFirst().orElseThrow();
        assertArrayEquals(cifar.decoder().decode(List.of(cifar.test().get(2)), false, 0, 0, 0, -1).getFeatures().dup().data().asFloat(),
                images.decoder().decode(List.of(png), false, 0, 0, 0, -1).getFeatures().dup().data().asFloat(), 0f);
    }

    @Test
    void classFolderNamesKeepLabelOrder() {
        assertEquals(List.of("0", "1", "2"), ImageFolderExport.folderNames(List.of("0", "1", "2")));
        List<String> twelve = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            twelve.add(Integer.toString(i));
        }
        List<String> folders = ImageFolderExport.folderNames(twelve);
        assertEquals("00-0", folders.get(0));
        assertEquals("11-11", folders.get(11));
        List<String> sorted = new ArrayList<>(folders);
        sorted.sort(null);
        assertEquals(folders, sorted);
        assertEquals(List.of("0-zebra", "1-T-shirt_top"), ImageFolderExport.folderNames(List.of("zebra", "T-shirt/top")));
    }

    /** Read on the executors and on the driver: the same report and the same sheet. */
    @Test
    void inspectDataReportsCountsSizesUnreadableFilesAndWritesAContactSheet() throws IOException {
        Path root = dir.resolve("images");
        TestDatasets.imageFolder(root);
        TestDatasets.write(root.resolve("train/dog/broken.jpg"), TestDatasets.truncatedJpeg());
        TestDatasets.write(root.resolve("train/dog/notes.txt"), "x".getBytes());
        Path sheet = dir.resolve("sheet.png");
        ConsoleCapture.Result result = ConsoleCapture.stdout(() -> new CommandLine(new InspectDataCommand()).execute(
                "--data", root.toString(), "--sheet", sheet.toString(), "--master", "local[2]", "--read-on", "executors",
                "--per-class", "3", "--image-size", "12", "--hflip", "--crop-padding", "2"));
        Path driverSheet = dir.resolve("driver-sheet.png");
        ConsoleCapture.Result onDriver = ConsoleCapture.stdout(() -> new CommandLine(new InspectDataCommand()).execute(
                "--data", root.toString(), "--sheet", driverSheet.toString(), "--read-on", "driver",
                "--per-class", "3", "--image-size", "12", "--hflip", "--crop-padding", "2"));
        assertEquals(0, onDriver.exit(), onDriver.text());
        assertEquals(result.text().replace(sheet.toString(), "SHEET"), onDriver.text().replace(driverSheet.toString(), "SHEET"));
        assertArrayEquals(Files.readAllBytes(sheet), Files.readAllBytes(driverSheet), "the same contact sheet from either path");
        String report = result.text();
        assertEquals(0, result.exit(), report);
        assertTrue(report.contains("records      13 train, 2 test"), report);
        assertTrue(report.matches("(?s).*1\\s+cat\\s+6\\s+1\\n.*"), report);
        assertTrue(report.contains("20x16 (5)") && report.contains("3 with 1, 12 with 3"), report);
        assertTrue(report.contains("unreadable   2") && report.contains("train/dog/broken.jpg: ") && report.contains("train/dog/notes.txt: "), report);
        assertTrue(report.contains("random horizontal flip"), report);

        BufferedImage image = ImageIO.read(sheet.toFile());
        int tile = 12 * 4; // 12 pixels upscaled 4x to reach 48
        assertEquals(120 + 2 * 3 * (tile + 4) + 12, image.getWidth());
        assertEquals(20 + 3 * (tile + 4) + 4, image.getHeight());
        // The first tile of the first row (bird) is a picture, not the background.
        int background = image.getRGB(image.getWidth() - 1, image.getHeight() - 1);
        int differing = 0;
        for (int y = 20; y < 20 + tile; y++) {
            for (int x = 124; x < 124 + tile; x++) {
                differing += image.getRGB(x, y) != background ? 1 : 0;
            }
        }
        assertTrue(differing > tile * tile / 2, differing + " of " + tile * tile + " pixels differ from the background");
        assertNotEquals(background, image.getRGB(124 + tile / 2, 20 + tile / 2));
    }

    @Test
    void inspectShowsMixedSizesAtTheFallbackSize() throws IOException {
        Path root = dir.resolve("images");
        TestDatasets.imageFolder(root);
        LoadedDataset dataset = DatasetSource.open(root.toString(), CONF, DatasetOptions.defaults(), 32);
        assertEquals(32, dataset.shape().height());
        BufferedImage sheet = DataInspector.contactSheet(DataInspector.inspect(dataset, 2, 1), 2, 1);
        assertEquals(20 + 3 * (64 + 4) + 4, sheet.getHeight());
    }
}
