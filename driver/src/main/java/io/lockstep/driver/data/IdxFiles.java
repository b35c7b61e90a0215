package io.lockstep.driver.data;

import org.apache.hadoop.fs.Path;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.ZipException;

/**
 * The IDX file format of MNIST and Fashion-MNIST (unsigned bytes only): a 4-byte magic number
 * {@code 0x0000 08 NN} (type ubyte, NN dimensions), the dimensions as big-endian 32-bit integers,
 * then the data. Images are {@code idx3} ({@code count x rows x cols}), labels {@code idx1}. Every
 * length is checked: a file that is not IDX, is truncated, or has trailing bytes is rejected with a
 * message naming the file and the record.
 */
public final class IdxFiles {
    public static final int IMAGES_MAGIC = 0x00000803;
    public static final int LABELS_MAGIC = 0x00000801;

    private IdxFiles() {
    }

    /** The images of one IDX file; each element is one image's {@code rows * cols} bytes, row by row. */
    public record Images(int rows, int cols, List<byte[]> images) {
        public int count() {
            return images.size();
        }
    }

    /** Reads the header of an images file: {count, rows, cols}. */
    static int[] imagesHeader(DataInputStream in, Path file) throws IOException {
        int magic = readMagic(in, file, IMAGES_MAGIC, "images (idx3-ubyte)");
        if (magic != IMAGES_MAGIC) {
            throw notIdx(file, magic, IMAGES_MAGIC, "images (idx3-ubyte)");
        }
        int count = in.readInt();
        int rows = in.readInt();
        int cols = in.readInt();
        if (count < 0 || rows <= 0 || cols <= 0 || rows > 4096 || cols > 4096) {
            throw new DatasetException(file + ": IDX header declares " + count + " images of " + rows + "x" + cols
                    + " pixels, which is not a valid image file (the file is damaged or not an IDX images file)");
        }
        return new int[]{count, rows, cols};
    }

    /** Reads the header of a labels file: the count. */
    static int labelsHeader(DataInputStream in, Path file) throws IOException {
        int magic = readMagic(in, file, LABELS_MAGIC, "labels (idx1-ubyte)");
        if (magic != LABELS_MAGIC) {
            throw notIdx(file, magic, LABELS_MAGIC, "labels (idx1-ubyte)");
        }
        int count = in.readInt();
        if (count < 0) {
            throw new DatasetException(file + ": IDX header declares " + count + " labels; the file is damaged");
        }
        return count;
    }

    private static int readMagic(DataInputStream in, Path file, int expected, String what) throws IOException {
        try {
            return in.readInt();
        } catch (EOFException e) {
            throw new DatasetException(file + " is shorter than an IDX header (4-byte magic number); expected an IDX " + what
                    + " file: download it again", e);
        }
    }

    private static DatasetException notIdx(Path file, int magic, int expected, String what) {
        String detail = (magic >>> 16) == 0 && ((magic >>> 8) & 0xFF) == 0x08
                ? "an IDX ubyte file with " + (magic & 0xFF) + " dimensions"
                : "not an IDX file";
        return new DatasetException(file + " is " + detail + ": it starts with 0x" + String.format("%08x", magic)
                + ", an IDX " + what + " file starts with 0x" + String.format("%08x", expected)
                + " (check that the file is the right one of the four and not an HTML page or a different format)");
    }

    /** Reads an IDX images file, validating its header and length. */
    public static Images readImages(DatasetFiles files, Path file) {
        try (DataInputStream in = new DataInputStream(files.open(file))) {
            int[] header = headerOrTruncated(() -> imagesHeader(in, file), file);
            int count = header[0];
            int rows = header[1];
            int cols = header[2];
            List<byte[]> images = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                byte[] image = new byte[rows * cols];
                try {
                    in.readFully(image);
                } catch (EOFException | ZipException e) {
                    throw truncated(file, "its header declares " + count + " images of " + rows + "x" + cols
                            + " but the data ends inside image " + i, e);
                }
                images.add(image);
            }
            expectEnd(in, file, count + " images of " + rows + "x" + cols);
            return new Images(rows, cols, images);
        } catch (IOException e) {
            throw unreadable(file, e);
        }
    }

    /** Reads an IDX labels file, validating its header and length. */
    public static byte[] readLabels(DatasetFiles files, Path file) {
        try (DataInputStream in = new DataInputStream(files.open(file))) {
            int count = headerOrTruncated(() -> new int[]{labelsHeader(in, file)}, file)[0];
            byte[] labels = new byte[count];
            int read = in.readNBytes(labels, 0, count);
            if (read < count) {
                throw truncated(file, "its header declares " + count + " labels but the data ends after " + read, null);
            }
            expectEnd(in, file, count + " labels");
            return labels;
        } catch (EOFException | ZipException e) {
            throw truncated(file, "the compressed data ends early (" + e.getMessage() + ")", e);
        } catch (IOException e) {
            throw unreadable(file, e);
        }
    }

    private interface HeaderRead {
        int[] read() throws IOException;
    }

    private static int[] headerOrTruncated(HeaderRead read, Path file) throws IOException {
        try {
            return read.read();
        } catch (EOFException | ZipException e) {
            throw truncated(file, "the file ends inside its header", e);
        }
    }

    private static void expectEnd(InputStream in, Path file, String declared) throws IOException {
        long extra = 0;
        try {
            while (in.read() >= 0 && extra < 1 << 20) {
                extra++;
            }
        } catch (EOFException | ZipException e) {
            throw truncated(file, "the compressed data ends early (" + e.getMessage() + ")", e);
        }
        if (extra > 0) {
            throw new DatasetException(file + " has " + (extra >= 1 << 20 ? "more than 1 MiB of" : extra + "") + " extra bytes after the "
                    + declared + " its header declares; the file is damaged or not the IDX file it is named after");
        }
    }

    private static DatasetException truncated(Path file, String detail, Throwable cause) {
        return new DatasetException(file + " is truncated: " + detail + "; download it again", cause);
    }

    private static DatasetException unreadable(Path file, IOException e) {
        if (e instanceof EOFException || e instanceof ZipException) {
            return truncated(file, "the compressed data ends early (" + e.getMessage() + ")", e);
        }
        return new DatasetException("cannot read " + file + ": " + e.getMessage(), e);
    }

    /** Writes an IDX images file ({@code 0x00000803}); every image must hold {@code rows * cols} bytes. */
    public static void writeImages(OutputStream out, int rows, int cols, List<byte[]> images) throws IOException {
        DataOutputStream data = new DataOutputStream(out);
        data.writeInt(IMAGES_MAGIC);
        data.writeInt(images.size());
        data.writeInt(rows);
        data.writeInt(cols);
        for (byte[] image : images) {
            if (image.length != rows * cols) {
                throw new IllegalArgumentException("image of " + image.length + " bytes in a file of " + rows + "x" + cols + " images");
            }
            data.write(image);
        }
        data.flush();
    }

    /** Writes an IDX labels file ({@code 0x00000801}). */
    public static void writeLabels(OutputStream out, byte[] labels) throws IOException {
        DataOutputStream data = new DataOutputStream(out);
        data.writeInt(LABELS_MAGIC);
        data.writeInt(labels.length);
        data.write(labels);
        data.flush();
    }
}
