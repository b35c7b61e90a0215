package io.lockstep.worker.data;

import javax.imageio.IIOException;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Iterator;
import java.util.Locale;

/**
 * Cheap checks of an encoded image on the driver, without decoding its pixels: the format and size
 * from the header, and whether the file ends the way a complete PNG (IEND chunk) or JPEG (EOI marker)
 * ends. A file without the proper ending is decoded in full to decide, because some writers append
 * data after the end marker. Stateless and thread-safe.
 */
public final class ImageProbe {
    private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    private static final byte[] PNG_IEND = {'I', 'E', 'N', 'D'};

    private ImageProbe() {
    }

    /**
     * What the header says about one image.
     *
     * @param format   {@code png} or {@code jpeg} (ImageIO's format name, lower case)
     * @param channels color channels without alpha: 1 (grayscale) or 3 (color)
     */
    public record ImageInfo(String format, int width, int height, int channels, boolean alpha) {
        public String size() {
            return width + "x" + height;
        }
    }

    /**
     * Reads the header of {@code bytes} and checks that the file is complete.
     *
     * @param full decode all pixels too (catches corruption inside the compressed data; costs a full decode)
     * @throws BadRecordException naming {@code source} when it is not a readable PNG/JPEG image
     */
    public static ImageInfo probe(byte[] bytes, String source, boolean full) {
        if (bytes.length == 0) {
            throw new BadRecordException(source, "is empty (0 bytes)");
        }
        ImageInfo info = header(bytes, source);
        if (full || !endsComplete(bytes, info.format())) {
            BufferedImage image = RecordDecoder.readImage(bytes, source);
            if (image.getWidth() != info.width() || image.getHeight() != info.height()) {
                throw new BadRecordException(source, "decodes to " + image.getWidth() + "x" + image.getHeight()
                        + " but its header says " + info.size());
            }
        }
        return info;
    }

    private static ImageInfo header(byte[] bytes, String source) {
        try (ImageInputStream input = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(input);
            if (!readers.hasNext()) {
                throw new BadRecordException(source, "is not a PNG or JPEG image (" + describeStart(bytes) + ")");
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(input, true, true);
                String format = reader.getFormatName().toLowerCase(Locale.ROOT);
                if (!format.equals("png") && !format.equals("jpeg")) {
                    throw new BadRecordException(source, "is a " + format + " image; only PNG and JPEG are supported (convert it)");
                }
                int width = reader.getWidth(0);
                int height = reader.getHeight(0);
                if (width <= 0 || height <= 0 || width > 0xFFFF || height > 0xFFFF) {
                    throw new BadRecordException(source, "has an unsupported size " + width + "x" + height + " (1..65535 per side)");
                }
                ImageTypeSpecifier type = reader.getRawImageType(0);
                if (type == null) {
                    Iterator<ImageTypeSpecifier> types = reader.getImageTypes(0);
                    type = types.hasNext() ? types.next() : null;
                }
                if (type == null) {
                    throw new BadRecordException(source, "has a color encoding ImageIO cannot decode (for example CMYK JPEG); convert it to RGB");
                }
                ColorModel colorModel = type.getColorModel();
                int channels = colorModel.getColorSpace().getType() == ColorSpace.TYPE_GRAY ? 1 : 3;
                return new ImageInfo(format, width, height, channels, colorModel.hasAlpha());
            } finally {
                reader.dispose();
            }
        } catch (IIOException e) {
            throw new BadRecordException(source, "has an unreadable header (" + e.getMessage() + ")", e);
        } catch (IOException e) {
            throw new BadRecordException(source, "cannot be read (" + e.getMessage() + ")", e);
        }
    }

    /** Whether the bytes end with PNG's IEND chunk or JPEG's EOI marker (trailing zero padding allowed). */
    static boolean endsComplete(byte[] bytes, String format) {
        if (format.equals("png")) {
            if (bytes.length < PNG_SIGNATURE.length + 12) {
                return false;
            }
            // IEND: length 0, type "IEND", CRC: the type sits 8 bytes before the end.
            int type = bytes.length - 8;
            for (int i = 0; i < PNG_IEND.length; i++) {
                if (bytes[type + i] != PNG_IEND[i]) {
                    return false;
                }
            }
            return true;
        }
        int end = bytes.length;
        while (end > 2 && bytes[end - 1] == 0) {
            end--;
        }
        return end >= 4 && (bytes[end - 2] & 0xFF) == 0xFF && (bytes[end - 1] & 0xFF) == 0xD9;
    }

    /** The first bytes in hex and as text, for "not an image" messages. */
    public static String describeStart(byte[] bytes) {
        int n = Math.min(8, bytes.length);
        StringBuilder hex = new StringBuilder();
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < n; i++) {
            int b = bytes[i] & 0xFF;
            hex.append(String.format("%02x", b));
            text.append(b >= 32 && b < 127 ? (char) b : '.');
        }
        return bytes.length + " bytes starting with 0x" + hex + " \"" + text + "\"";
    }
}
