package io.lockstep.driver.data;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

/** Writes small datasets for tests: image folders (PNG/JPEG, gray/RGB, mixed sizes), CIFAR binary files and tar shards. */
public final class TestDatasets {
    private TestDatasets() {
    }

    static byte[] encode(BufferedImage image, String format) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (!ImageIO.write(image, format, out)) {
            throw new IOException("no " + format + " writer for image type " + image.getType());
        }
        return out.toByteArray();
    }

    /** An image of one color (RGB) or gray level, with a seeded pattern on top if {@code pattern}. */
    static BufferedImage solid(int width, int height, int rgb, boolean gray) {
        BufferedImage image = new BufferedImage(width, height, gray ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                image.setRGB(x, y, rgb);
            }
        }
        return image;
    }

    /** A textured color image (values vary across the image, so JPEG and resizing have something to do). */
    static BufferedImage textured(int width, int height, int seed, boolean gray) {
        BufferedImage image = new BufferedImage(width, height, gray ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int r = (x * 7 + seed * 13) & 0xFF;
                int g = (y * 11 + seed * 5) & 0xFF;
                int b = ((x + y) * 3 + seed) & 0xFF;
                image.setRGB(x, y, r << 16 | g << 8 | b);
            }
        }
        return image;
    }

    static void write(Path file, byte[] bytes) throws IOException {
        Files.createDirectories(file.getParent());
        Files.write(file, bytes);
    }

    /**
     * {@code root/train/{bird,cat,dog}} and {@code root/val/{cat,dog}}: 13 training images (bird 3
     * RGB PNG 16x16; cat 4 RGB PNG 20x16 + 2 gray JPEG 12x12; dog 3 RGB JPEG 24x24 + 1 gray PNG 8x8),
     * 2 validation images, plus a hidden file and a README that must be ignored.
     */
    static void imageFolder(Path root) throws IOException {
        for (int i = 0; i < 3; i++) {
            write(root.resolve("train/bird/b" + i + ".png"), encode(textured(16, 16, i, false), "png"));
        }
        for (int i = 0; i < 4; i++) {
            write(root.resolve("train/cat/c" + i + ".png"), encode(textured(20, 16, 10 + i, false), "png"));
        }
        for (int i = 0; i < 2; i++) {
            write(root.resolve("train/cat/gray/g" + i + ".JPG"), encode(textured(12, 12, 20 + i, true), "jpeg"));
        }
        for (int i = 0; i < 3; i++) {
            write(root.resolve("train/dog/d" + i + ".jpeg"), encode(textured(24, 24, 30 + i, false), "jpeg"));
        }
        write(root.resolve("train/dog/small.png"), encode(textured(8, 8, 40, true), "png"));
        write(root.resolve("val/cat/v0.png"), encode(textured(20, 16, 50, false), "png"));
        write(root.resolve("val/dog/v1.jpg"), encode(textured(24, 24, 51, false), "jpeg"));
        write(root.resolve("train/cat/.DS_Store"), new byte[]{0, 1, 2});
        write(root.resolve("train/README.txt"), "class folders below".getBytes());
    }

    /**
     * A PNG damaged inside its compressed pixels: header, size and IEND are intact, so only decoding it finds
     * the damage.
     */
    static byte[] damagedPng() throws IOException {
        return damageIdat(encode(textured(32, 32, 99, false), "png"));
    }

    /** {@code png} with bytes in the middle of its first IDAT chunk's data overwritten. */
    public static byte[] damageIdat(byte[] png) {
        byte[] damaged = png.clone();
        for (int i = 8; i + 8 < damaged.length; ) {
            int length = ((damaged[i] & 0xff) << 24) | ((damaged[i + 1] & 0xff) << 16) | ((damaged[i + 2] & 0xff) << 8)
                    | (damaged[i + 3] & 0xff);
            if (damaged[i + 4] == 'I' && damaged[i + 5] == 'D' && damaged[i + 6] == 'A' && damaged[i + 7] == 'T') {
                Arrays.fill(damaged, i + 8 + 2, i + 8 + Math.max(3, length / 2), (byte) 0xff);
                return damaged;
            }
            i += 12 + length;
        }
        throw new IllegalArgumentException("no IDAT chunk");
    }

    /** A truncated JPEG: the first half of a valid one. */
    static byte[] truncatedJpeg() throws IOException {
        byte[] jpeg = encode(textured(128, 128, 3, false), "jpeg");
        return Arrays.copyOf(jpeg, jpeg.length / 2);
    }

    /** One CIFAR record: label byte(s) then R, G, B planes; plane c holds {@code (label * 20 + c * 7 + index) & 0xFF}. */
    static byte[] cifarRecord(int[] labels, int index) {
        byte[] record = new byte[labels.length + 3072];
        for (int i = 0; i < labels.length; i++) {
            record[i] = (byte) labels[i];
        }
        int label = labels[labels.length - 1];
        for (int c = 0; c < 3; c++) {
            Arrays.fill(record, labels.length + c * 1024, labels.length + (c + 1) * 1024, (byte) (label * 20 + c * 7 + index));
        }
        return record;
    }

    /** CIFAR-10 binary files in {@code dir}: 5 training batches of 2 records and a test batch of 3; labels cycle 0..9. */
    static void cifar10(Path dir) throws IOException {
        int n = 0;
        for (int batch = 1; batch <= 5; batch++) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (int i = 0; i < 2; i++, n++) {
                out.write(cifarRecord(new int[]{n % 10}, n));
            }
            write(dir.resolve("data_batch_" + batch + ".bin"), out.toByteArray());
        }
        ByteArrayOutputStream test = new ByteArrayOutputStream();
        for (int i = 0; i < 3; i++) {
            test.write(cifarRecord(new int[]{i}, 100 + i));
        }
        write(dir.resolve("test_batch.bin"), test.toByteArray());
    }

    /** A tar archive holding these entries (name to bytes) in order, as WebDataset's writers produce it. */
    static void tar(Path file, Map<String, byte[]> entries) throws IOException {
        Files.createDirectories(file.getParent());
        try (TarArchiveOutputStream out = new TarArchiveOutputStream(Files.newOutputStream(file))) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                TarArchiveEntry entry = new TarArchiveEntry(e.getKey());
                entry.setSize(e.getValue().length);
                out.putArchiveEntry(entry);
                out.write(e.getValue());
                out.closeArchiveEntry();
            }
        }
    }

    /**
     * The records as tar shards of at most {@code perShard} samples ({@code dir/shard-000000.tar}, ...), in
     * order: sample i is {@code NNNNNN.png} or {@code .jpg} (its bytes) with {@code NNNNNN.cls} (its label).
     */
    static void shards(Path dir, List<io.lockstep.worker.data.LabeledRecord> records, int perShard) throws IOException {
        for (int first = 0, shard = 0; first < records.size(); first += perShard, shard++) {
            Map<String, byte[]> entries = new LinkedHashMap<>();
            for (int i = first; i < Math.min(records.size(), first + perShard); i++) {
                io.lockstep.worker.data.LabeledRecord r = records.get(i);
                String key = String.format("%06d", i);
                boolean png = r.payload()[0] == (byte) 0x89;
                entries.put(key + (png ? ".png" : ".jpg"), r.payload());
                entries.put(key + ".cls", Integer.toString(r.label()).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            }
            tar(dir.resolve(String.format("shard-%06d.tar", shard)), entries);
        }
    }
}
