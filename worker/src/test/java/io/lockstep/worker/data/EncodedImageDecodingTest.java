package io.lockstep.worker.data;

import io.lockstep.models.InputShape;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EncodedImageDecodingTest {
    static final RecordFormat ENCODED = RecordFormat.encoded();

    static byte[] encode(BufferedImage image, String format) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            assertTrue(ImageIO.write(image, format, out), "ImageIO has a " + format + " writer for this image type");
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** An RGB image whose pixel (x, y) is (10x, 10y, 200). */
    static BufferedImage rgb(int width, int height, int type) {
        BufferedImage image = new BufferedImage(width, height, type);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                image.setRGB(x, y, 0xFF000000 | (10 * x) << 16 | (10 * y) << 8 | 200);
            }
        }
        return image;
    }

    /** Red rising 4 per column, green and blue constant. */
    static BufferedImage redRamp(int width, int height) {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                image.setRGB(x, y, (4 * x) << 16 | 100 << 8 | 50);
            }
        }
        return image;
    }

    static BufferedImage gray(int width, int height) {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                image.getRaster().setSample(x, y, 0, 7 * x + 3 * y);
            }
        }
        return image;
    }

    private static float[] decode(byte[] bytes, InputShape shape) {
        return decode(bytes, shape, "test.img");
    }

    private static float[] decode(byte[] bytes, InputShape shape, String name) {
        try (RecordDecoder decoder = new RecordDecoder(ENCODED, ImageTransform.plain(shape))) {
            float[] out = new float[decoder.outputSize()];
            decoder.decode(new LabeledRecord(0, bytes, name), null, out, 0);
            return out;
        }
    }

    /**
     * ImageIO's PNG reader wraps an OutOfMemoryError in an IIOException: that is the heap's, not a bad record, so it
     * comes back as an OutOfMemoryError naming the image and the heap setting, never as a record to skip.
     */
    @Test
    void runningOutOfHeapWhileDecodingIsNotABadRecord() {
        javax.imageio.IIOException wrapped = new javax.imageio.IIOException("Caught exception during read: ",
                new OutOfMemoryError("Java heap space"));
        OutOfMemoryError error = RecordDecoder.outOfHeap(wrapped, "train/left/img1154.png", 786_000);
        assertTrue(error.getMessage().contains("train/left/img1154.png") && error.getMessage().contains("not at fault")
                && error.getMessage().contains("spark.executor.memory"), error.getMessage());
        assertEquals(wrapped, error.getCause());
        assertEquals(null, RecordDecoder.outOfHeap(new javax.imageio.IIOException("Error reading PNG metadata"), "x.png", 10));
    }

    @Test
    void pngRgbAndRgbaDecodeToExactPlanarChannels() {
        for (int type : new int[]{BufferedImage.TYPE_3BYTE_BGR, BufferedImage.TYPE_INT_ARGB, BufferedImage.TYPE_INT_RGB}) {
            float[] out = decode(encode(rgb(6, 5, type), "png"), new InputShape(3, 5, 6));
            for (int y = 0; y < 5; y++) {
                for (int x = 0; x < 6; x++) {
                    int i = y * 6 + x;
                    assertEquals(10 * x / 255f, out[i], 1e-6, "red, type " + type);
                    assertEquals(10 * y / 255f, out[30 + i], 1e-6, "green, type " + type);
                    assertEquals(200 / 255f, out[60 + i], 1e-6, "blue, type " + type);
                }
            }
        }
    }

    @Test
    void grayscalePngs8And16BitAndPaletteDecodeExactly() {
        float[] eight = decode(encode(gray(5, 4), "png"), new InputShape(1, 4, 5));
        BufferedImage sixteen = new BufferedImage(5, 4, BufferedImage.TYPE_USHORT_GRAY);
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 5; x++) {
                sixteen.getRaster().setSample(x, y, 0, (7 * x + 3 * y) * 257);
            }
        }
        float[] wide = decode(encode(sixteen, "png"), new InputShape(1, 4, 5));
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 5; x++) {
                assertEquals((7 * x + 3 * y) / 255f, eight[y * 5 + x], 1e-6);
                assertEquals((7 * x + 3 * y) / 255f, wide[y * 5 + x], 1e-6);
            }
        }
        byte[] r = {0, (byte) 255};
        byte[] g = {0, (byte) 128};
        byte[] b = {0, 0};
        BufferedImage palette = new BufferedImage(4, 1, BufferedImage.TYPE_BYTE_INDEXED, new IndexColorModel(1, 2, r, g, b));
        palette.getRaster().setSample(1, 0, 0, 1);
        float[] out = decode(encode(palette, "png"), new InputShape(3, 1, 4));
        assertArrayEquals(new float[]{0, 1, 0, 0, 0, 128 / 255f, 0, 0, 0, 0, 0, 0}, out, 1e-6f);
    }

    @Test
    void jpegGrayAndColorDecodeCloseToTheOriginalAndConvertChannels() {
        BufferedImage smooth = rgb(16, 16, BufferedImage.TYPE_3BYTE_BGR);
        float[] color = decode(encode(smooth, "jpeg"), new InputShape(3, 16, 16));
        float[] asGray = decode(encode(smooth, "jpeg"), new InputShape(1, 16, 16));
        for (int i = 0; i < 256; i++) {
            int x = i % 16;
            int y = i / 16;
            assertEquals(10 * x / 255f, color[i], 0.08, "red at " + x + "," + y);
            assertEquals(200 / 255f, color[512 + i], 0.08, "blue at " + x + "," + y);
            assertEquals(0.299f * color[i] + 0.587f * color[256 + i] + 0.114f * color[512 + i], asGray[i], 1e-5);
        }
        float[] grayToColor = decode(encode(gray(8, 8), "jpeg"), new InputShape(3, 8, 8));
        assertArrayEquals(Arrays.copyOfRange(grayToColor, 0, 64), Arrays.copyOfRange(grayToColor, 64, 128), 0f);
        for (int i = 0; i < 64; i++) {
            assertEquals((7 * (i % 8) + 3 * (i / 8)) / 255f, grayToColor[i], 0.05);
        }
    }

    @Test
    void mixedSizesAreResizedToTheModelInput() {
        ImageBatchDecoder decoder = new ImageBatchDecoder(ENCODED, ImageTransform.plain(new InputShape(3, 8, 8)), 2, BadRecordPolicy.FAIL);
        List<LabeledRecord> records = List.of(
                new LabeledRecord(0, encode(rgb(20, 13, BufferedImage.TYPE_3BYTE_BGR), "png"), "a.png"),
                new LabeledRecord(1, encode(gray(3, 5), "png"), "b.png"),
                new LabeledRecord(1, encode(redRamp(64, 64), "jpeg"), "c.jpg"));
        DataSet batch = decoder.decode(records, false, 0, 0, 0, -1);
        assertArrayEquals(new long[]{3, 3, 8, 8}, batch.getFeatures().shape());
        float[] f = batch.getFeatures().dup().data().asFloat();
        // The 64x64 image shrinks by 8: each output pixel averages an 8x8 block, so red at column x is 4 * (8x + 3.5).
        for (int x = 0; x < 8; x++) {
            assertEquals(4 * (8 * x + 3.5f) / 255f, f[2 * 192 + x], 0.03, "red of the shrunk JPEG at column " + x);
        }
        for (float v : f) {
            assertTrue(v >= 0 && v <= 1, "pixel " + v + " outside [0,1]");
        }
    }

    @Test
    void corruptTruncatedAndNonImageRecordsNameTheFile() {
        byte[] png = encode(rgb(32, 32, BufferedImage.TYPE_3BYTE_BGR), "png");
        byte[] jpeg = encode(rgb(64, 64, BufferedImage.TYPE_3BYTE_BGR), "jpeg");
        byte[] garbage = png.clone();
        for (int i = 40; i < garbage.length - 20; i++) {
            garbage[i] = (byte) (i * 31);
        }
        record Case(String name, byte[] bytes, String reason) {
        }
        for (Case c : List.of(
                new Case("cats/half.png", Arrays.copyOf(png, png.length / 2), "cannot be decoded"),
                new Case("cats/half.jpg", Arrays.copyOf(jpeg, jpeg.length / 2), "corrupt or truncated"),
                new Case("cats/garbled.png", garbage, "cannot be decoded"),
                new Case("cats/notes.png", "just some text".getBytes(), "is not a PNG or JPEG image"),
                new Case("cats/empty.png", new byte[0], "is empty"))) {
            BadRecordException e = assertThrows(BadRecordException.class, () -> decode(c.bytes(), new InputShape(3, 8, 8), c.name()), c.name());
            assertTrue(e.getMessage().startsWith(c.name() + ": ") && e.getMessage().contains(c.reason()), e.getMessage());
            assertEquals(c.name(), e.source());
            BadRecordException probed = assertThrows(BadRecordException.class, () -> ImageProbe.probe(c.bytes(), c.name(), false));
            assertTrue(probed.getMessage().startsWith(c.name() + ": "), probed.getMessage());
        }
    }

    @Test
    void probeReadsHeaderAndAcceptsCompleteFiles() {
        ImageProbe.ImageInfo png = ImageProbe.probe(encode(rgb(20, 13, BufferedImage.TYPE_INT_ARGB), "png"), "a.png", false);
        assertEquals(new ImageProbe.ImageInfo("png", 20, 13, 3, true), png);
        ImageProbe.ImageInfo jpeg = ImageProbe.probe(encode(gray(9, 7), "jpeg"), "b.jpg", true);
        assertEquals(new ImageProbe.ImageInfo("jpeg", 9, 7, 1, false), jpeg);
        byte[] padded = Arrays.copyOf(encode(gray(9, 7), "jpeg"), encode(gray(9, 7), "jpeg").length + 16);
        assertTrue(ImageProbe.endsComplete(padded, "jpeg"));
        assertFalse(ImageProbe.endsComplete(Arrays.copyOf(padded, 100), "jpeg"));
    }

    @Test
    void decoderKeepsWorkingAfterABadRecordUnderSkip() {
        ImageBatchDecoder decoder = new ImageBatchDecoder(ENCODED, ImageTransform.plain(new InputShape(1, 4, 4)), 2, BadRecordPolicy.SKIP);
        byte[] jpeg = encode(gray(4, 4), "jpeg");
        List<LabeledRecord> records = List.of(new LabeledRecord(0, jpeg, "ok1.jpg"),
                new LabeledRecord(1, Arrays.copyOf(jpeg, jpeg.length / 2), "bad.jpg"), new LabeledRecord(1, jpeg, "ok2.jpg"));
        DataSet batch = decoder.decode(records, true, 1, 0, 0, 0);
        assertEquals(2, batch.numExamples());
        assertArrayEquals(new int[]{0, 1}, batch.getLabels().argMax(1).toIntVector());
        float[] f = batch.getFeatures().dup().data().asFloat();
        assertArrayEquals(Arrays.copyOfRange(f, 0, 16), Arrays.copyOfRange(f, 16, 32), 0f);
        assertEquals("bad.jpg", decoder.skipped().get(0).source());
    }
}
