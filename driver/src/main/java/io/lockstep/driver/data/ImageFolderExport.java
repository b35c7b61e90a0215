package io.lockstep.driver.data;

import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.RecordFormat;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes a raw-pixel dataset (IDX, CIFAR) as an image folder of PNGs: {@code OUT/train/<class>/NNNNN.png}
 * and {@code OUT/test/<class>/NNNNN.png}, NNNNN being the record's index in its split. Reading the
 * folder back gives the same class indices: class folders are the class names when those already
 * sort in label order (as "0".."9" and the CIFAR names do), else {@code <zero-padded index>-<name>}.
 * PNG is lossless, so the decoded pixels are identical to the original records.
 */
public final class ImageFolderExport {
    private ImageFolderExport() {
    }

    /** The folder name of each class, in label order, sorting in label order. */
    static List<String> folderNames(List<String> classNames) {
        List<String> safe = new ArrayList<>();
        for (String name : classNames) {
            safe.add(name.replaceAll("[/\\\\:*?\"<>|]", "_"));
        }
        List<String> sorted = new ArrayList<>(safe);
        sorted.sort(null);
        if (sorted.equals(safe) && safe.stream().distinct().count() == safe.size() && safe.stream().noneMatch(ImageFolderDataset::hidden)) {
            return safe;
        }
        int width = Integer.toString(classNames.size() - 1).length();
        List<String> prefixed = new ArrayList<>();
        for (int i = 0; i < safe.size(); i++) {
            prefixed.add(String.format("%0" + width + "d-%s", i, safe.get(i)));
        }
        return prefixed;
    }

    /** Writes both splits; returns the number of images written. */
    public static int write(LoadedDataset dataset, String out, Configuration conf) {
        RecordFormat format = dataset.recordFormat();
        if (format.isEncoded()) {
            throw new DatasetException("--data: " + dataset.uri() + " is already an image folder; export works on IDX and CIFAR datasets");
        }
        List<String> folders = folderNames(dataset.classNames());
        try {
            Path root = new Path(out);
            FileSystem fs = root.getFileSystem(conf);
            fs.setWriteChecksum(false);
            int written = writeSplit(fs, new Path(root, "train"), dataset.train(), format, folders);
            written += writeSplit(fs, new Path(root, "test"), dataset.test(), format, folders);
            return written;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the image folder " + out + ": " + e.getMessage(), e);
        }
    }

    private static int writeSplit(FileSystem fs, Path dir, List<LabeledRecord> records, RecordFormat format, List<String> folders)
            throws IOException {
        int digits = Math.max(5, Integer.toString(records.size()).length());
        BufferedImage image = new BufferedImage(format.width(), format.height(),
                format.channels() == 1 ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_3BYTE_BGR);
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        try (PngEncoder encoder = new PngEncoder()) {
            for (String folder : folders) {
                fs.mkdirs(new Path(dir, folder));
            }
            for (int i = 0; i < records.size(); i++) {
                LabeledRecord record = records.get(i);
                toImage(record.payload(), format, image);
                png.reset();
                encoder.write(image, png);
                Path file = new Path(new Path(dir, folders.get(record.label())), String.format("%0" + digits + "d.png", i));
                try (FSDataOutputStream o = fs.createNonRecursive(file, true, 1 << 16, fs.getDefaultReplication(file),
                        fs.getDefaultBlockSize(file), null)) {
                    png.writeTo(o);
                }
            }
        }
        return records.size();
    }

    /** Copies raw CHW bytes into {@code image} (TYPE_BYTE_GRAY or TYPE_3BYTE_BGR). */
    static void toImage(byte[] chw, RecordFormat format, BufferedImage image) {
        int plane = format.height() * format.width();
        if (format.channels() == 1) {
            image.getRaster().setDataElements(0, 0, format.width(), format.height(), chw);
            return;
        }
        // Data elements go in band order (R, G, B); the raster's band offsets place them as BGR bytes.
        byte[] rgb = new byte[3 * plane];
        for (int i = 0; i < plane; i++) {
            rgb[3 * i] = chw[i];
            rgb[3 * i + 1] = chw[plane + i];
            rgb[3 * i + 2] = chw[2 * plane + i];
        }
        image.getRaster().setDataElements(0, 0, format.width(), format.height(), rgb);
    }
}
