package io.lockstep.worker.data;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.event.IIOReadWarningListener;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.ComponentSampleModel;
import java.awt.image.DataBuffer;
import java.awt.image.DataBufferByte;
import java.awt.image.DataBufferUShort;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * Decodes one record at a time into the model's input layout: planar {@code C x H x W} floats,
 * converted to the transform's channels, resized, augmented (when given a random stream) and
 * normalized, written into the caller's buffer.
 *
 * <p>Encoded records are decoded with the JDK's ImageIO (PNG and baseline/progressive JPEG, no extra
 * dependency). Every geometric step (resize, random resized crop, padded random crop, flip) is one
 * axis-aligned mapping from output to source coordinates, so an image is sampled once, bilinearly,
 * from its decoded pixels; shrinking by 2x or more first averages whole pixel blocks so the result
 * is not aliased. Alpha channels are ignored; RGB to grayscale uses ITU-R 601 luma (as PIL's "L").
 *
 * <p>Not thread-safe: it owns scratch buffers and one ImageIO reader per format, reused from image to
 * image, so per image it allocates only what ImageIO allocates for the decoded picture. Use one
 * instance per thread and {@link #close()} it to release the readers' native state early (else the
 * garbage collector does).
 */
public final class RecordDecoder implements AutoCloseable {
    private static final float INV_255 = 1f / 255f;
    private static final float INV_65535 = 1f / 65535f;
    private static final double LOG_MIN_RATIO = Math.log(3.0 / 4.0);
    private static final double LOG_MAX_RATIO = Math.log(4.0 / 3.0);

    private final RecordFormat format;
    private final ImageTransform transform;
    private final int outChannels;
    private final int outHeight;
    private final int outWidth;
    private final float[] mean;
    private final float[] invStd;

    private float[] source = new float[0];
    private float[] reduced = new float[0];
    private int[] rgbRow = new int[0];
    private final int[] bandStart = new int[3];
    private int sourceHeight;
    private int sourceWidth;
    private final int[] x0;
    private final int[] x1;
    private final float[] wx;
    private final boolean[] validX;
    private final int[] y0;
    private final int[] y1;
    private final float[] wy;
    private final boolean[] validY;
    private final List<String> readWarnings = new ArrayList<>(2);
    private final IIOReadWarningListener warningListener = (reader, warning) -> readWarnings.add(warning);
    private ImageReader pngReader;
    private ImageReader jpegReader;

    public RecordDecoder(RecordFormat format, ImageTransform transform) {
        this.format = format;
        this.transform = transform;
        this.outChannels = transform.channels();
        this.outHeight = transform.height();
        this.outWidth = transform.width();
        Normalizer normalizer = transform.normalizer();
        this.mean = new float[outChannels];
        this.invStd = new float[outChannels];
        for (int c = 0; c < outChannels; c++) {
            mean[c] = normalizer.meanOf(c);
            invStd[c] = 1f / normalizer.stdOf(c);
        }
        x0 = new int[outWidth];
        x1 = new int[outWidth];
        wx = new float[outWidth];
        validX = new boolean[outWidth];
        y0 = new int[outHeight];
        y1 = new int[outHeight];
        wy = new float[outHeight];
        validY = new boolean[outHeight];
    }

    /** Floats one decoded record occupies: {@code channels * height * width} of the transform. */
    public int outputSize() {
        return outChannels * outHeight * outWidth;
    }

    /**
     * Decodes {@code record} into {@code out[offset .. offset + outputSize())}.
     *
     * @param random the batch's augmentation stream, or null for the deterministic transform only
     * @throws BadRecordException if the record cannot be decoded; the message names its file
     */
    public void decode(LabeledRecord record, AugmentRandom random, float[] out, int offset) {
        loadSource(record);
        double boxX = 0;
        double boxY = 0;
        double boxWidth = sourceWidth;
        double boxHeight = sourceHeight;
        boolean augment = random != null && transform.augments();
        if (augment && transform.randomResizedCrop()) {
            long box = randomResizedCrop(random, sourceHeight, sourceWidth, transform.resizedCropMinScale());
            int cropHeight = (int) (box >>> 48);
            int cropWidth = (int) (box >>> 32) & 0xFFFF;
            boxY = (int) (box >>> 16) & 0xFFFF;
            boxX = (int) box & 0xFFFF;
            boxHeight = cropHeight;
            boxWidth = cropWidth;
        }
        int shiftX = 0;
        int shiftY = 0;
        if (augment && transform.cropPadding() > 0) {
            int p = transform.cropPadding();
            shiftY = random.nextIntInclusive(-p, p);
            shiftX = random.nextIntInclusive(-p, p);
        }
        boolean flip = augment && transform.horizontalFlip() && random.nextBoolean();

        float[] pixels = source;
        int height = sourceHeight;
        int width = sourceWidth;
        int factorX = Math.max(1, (int) (boxWidth / outWidth));
        int factorY = Math.max(1, (int) (boxHeight / outHeight));
        if (factorX > 1 || factorY > 1) {
            height = (height + factorY - 1) / factorY;
            width = (width + factorX - 1) / factorX;
            boxReduce(factorY, factorX, height, width);
            pixels = reduced;
            boxX /= factorX;
            boxWidth /= factorX;
            boxY /= factorY;
            boxHeight /= factorY;
        }
        axisMap(outWidth, boxX, boxWidth, width, shiftX, flip, x0, x1, wx, validX);
        axisMap(outHeight, boxY, boxHeight, height, shiftY, false, y0, y1, wy, validY);
        sample(pixels, height, width, out, offset);
    }

    /** The size of the last decoded record before any resizing: {@code height << 16 | width}. */
    public int lastSourceSize() {
        return sourceHeight << 16 | sourceWidth;
    }

    private void sample(float[] pixels, int height, int width, float[] out, int offset) {
        int plane = height * width;
        int outPlane = outHeight * outWidth;
        for (int c = 0; c < outChannels; c++) {
            int in = c * plane;
            int o = offset + c * outPlane;
            float m = mean[c];
            float s = invStd[c];
            float fill = -m * s;
            for (int y = 0; y < outHeight; y++) {
                if (!validY[y]) {
                    for (int x = 0; x < outWidth; x++) {
                        out[o++] = fill;
                    }
                    continue;
                }
                int row0 = in + y0[y] * width;
                int row1 = in + y1[y] * width;
                float fy = wy[y];
                for (int x = 0; x < outWidth; x++) {
                    if (!validX[x]) {
                        out[o++] = fill;
                        continue;
                    }
                    float fx = wx[x];
                    float a0 = pixels[row0 + x0[x]];
                    float a = a0 + (pixels[row0 + x1[x]] - a0) * fx;
                    float b0 = pixels[row1 + x0[x]];
                    float b = b0 + (pixels[row1 + x1[x]] - b0) * fx;
                    out[o++] = (a + (b - a) * fy - m) * s;
                }
            }
        }
    }

    /**
     * Output pixel {@code o} reads the un-shifted position {@code (flip ? n-1-o : o) - shift} of the
     * resized box, which is outside the image (zero padding) or samples the source bilinearly at the
     * box position of its pixel center.
     */
    private static void axisMap(int n, double boxStart, double boxLength, int sourceLength, int shift, boolean flip,
                                int[] i0, int[] i1, float[] w, boolean[] valid) {
        double scale = boxLength / n;
        for (int o = 0; o < n; o++) {
            int p = (flip ? n - 1 - o : o) - shift;
            if (p < 0 || p >= n) {
                valid[o] = false;
                continue;
            }
            valid[o] = true;
            double s = boxStart + (p + 0.5) * scale - 0.5;
            if (s <= 0) {
                i0[o] = 0;
                i1[o] = 0;
                w[o] = 0;
            } else if (s >= sourceLength - 1) {
                i0[o] = sourceLength - 1;
                i1[o] = sourceLength - 1;
                w[o] = 0;
            } else {
                int lower = (int) s;
                i0[o] = lower;
                i1[o] = lower + 1;
                w[o] = (float) (s - lower);
            }
        }
    }

    /** Averages {@code factorY x factorX} blocks of {@link #source} into {@link #reduced} (partial edge blocks too). */
    private void boxReduce(int factorY, int factorX, int height, int width) {
        int size = outChannels * height * width;
        if (reduced.length < size) {
            reduced = new float[size];
        }
        int plane = sourceHeight * sourceWidth;
        int r = 0;
        for (int c = 0; c < outChannels; c++) {
            int base = c * plane;
            for (int ry = 0; ry < height; ry++) {
                int yStart = ry * factorY;
                int yEnd = Math.min(sourceHeight, yStart + factorY);
                for (int rx = 0; rx < width; rx++) {
                    int xStart = rx * factorX;
                    int xEnd = Math.min(sourceWidth, xStart + factorX);
                    float sum = 0;
                    for (int y = yStart; y < yEnd; y++) {
                        int row = base + y * sourceWidth;
                        for (int x = xStart; x < xEnd; x++) {
                            sum += source[row + x];
                        }
                    }
                    reduced[r++] = sum / ((yEnd - yStart) * (xEnd - xStart));
                }
            }
        }
    }

    /**
     * torchvision's {@code RandomResizedCrop.get_params}: up to 10 tries of a random area fraction and
     * log-uniform aspect ratio, else a center crop clamped to the ratio range. Packed as
     * {@code height << 48 | width << 32 | top << 16 | left} (every value below 65536).
     */
    static long randomResizedCrop(AugmentRandom random, int height, int width, double minScale) {
        double area = (double) height * width;
        for (int attempt = 0; attempt < 10; attempt++) {
            double targetArea = area * (minScale + (1 - minScale) * random.nextDouble());
            double aspect = Math.exp(LOG_MIN_RATIO + (LOG_MAX_RATIO - LOG_MIN_RATIO) * random.nextDouble());
            int w = (int) Math.round(Math.sqrt(targetArea * aspect));
            int h = (int) Math.round(Math.sqrt(targetArea / aspect));
            if (w > 0 && w <= width && h > 0 && h <= height) {
                int top = random.nextIntInclusive(0, height - h);
                int left = random.nextIntInclusive(0, width - w);
                return pack(h, w, top, left);
            }
        }
        double ratio = (double) width / height;
        int w;
        int h;
        if (ratio < 3.0 / 4.0) {
            w = width;
            h = Math.min(height, (int) Math.round(w / (3.0 / 4.0)));
        } else if (ratio > 4.0 / 3.0) {
            h = height;
            w = Math.min(width, (int) Math.round(h * (4.0 / 3.0)));
        } else {
            w = width;
            h = height;
        }
        return pack(h, w, (height - h) / 2, (width - w) / 2);
    }

    private static long pack(int h, int w, int top, int left) {
        return (long) h << 48 | (long) w << 32 | (long) top << 16 | left;
    }

    // ---- decoding the stored record into planar floats with the output's channel count ----

    private void ensureSource(int height, int width) {
        if (height > 0xFFFF || width > 0xFFFF) {
            throw new IllegalArgumentException("image of " + width + "x" + height + " pixels is larger than 65535 on a side");
        }
        sourceHeight = height;
        sourceWidth = width;
        int size = outChannels * height * width;
        if (source.length < size) {
            source = new float[size];
        }
    }

    private void loadSource(LabeledRecord record) {
        if (format.isEncoded()) {
            loadEncoded(record);
        } else {
            loadRaw(record);
        }
    }

    private void loadRaw(LabeledRecord record) {
        byte[] bytes = record.payload();
        if (bytes.length != format.rawBytes()) {
            throw new BadRecordException(record.describe(), "holds " + bytes.length + " bytes, the dataset's records are "
                    + format + " (" + format.rawBytes() + " bytes)");
        }
        int h = format.height();
        int w = format.width();
        int plane = h * w;
        ensureSource(h, w);
        int inChannels = format.channels();
        if (inChannels == outChannels) {
            for (int i = 0; i < inChannels * plane; i++) {
                source[i] = (bytes[i] & 0xFF) * INV_255;
            }
        } else if (inChannels == 1) {
            for (int i = 0; i < plane; i++) {
                float v = (bytes[i] & 0xFF) * INV_255;
                source[i] = v;
                source[plane + i] = v;
                source[2 * plane + i] = v;
            }
        } else {
            for (int i = 0; i < plane; i++) {
                source[i] = luma(bytes[i] & 0xFF, bytes[plane + i] & 0xFF, bytes[2 * plane + i] & 0xFF) * INV_255;
            }
        }
    }

    private static float luma(float r, float g, float b) {
        return 0.299f * r + 0.587f * g + 0.114f * b;
    }

    private void loadEncoded(LabeledRecord record) {
        BufferedImage image = readEncoded(record.payload(), record.describe());
        Raster raster = image.getRaster();
        ensureSource(image.getHeight(), image.getWidth());
        boolean gray = image.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_GRAY;
        if (image.getColorModel() instanceof ComponentColorModel
                && raster.getSampleModel() instanceof ComponentSampleModel sampleModel
                && (gray || image.getColorModel().getColorSpace().isCS_sRGB())
                && raster.getNumBands() >= (gray ? 1 : 3)
                && (raster.getDataBuffer() instanceof DataBufferByte || raster.getDataBuffer() instanceof DataBufferUShort)) {
            loadComponents(raster, sampleModel, gray);
        } else {
            loadThroughRgb(image);
        }
    }

    /** Fast path: 8- or 16-bit gray/RGB(A) stored as components (what ImageIO gives for most PNGs and JPEGs). */
    private void loadComponents(Raster raster, ComponentSampleModel sampleModel, boolean gray) {
        int h = sourceHeight;
        int w = sourceWidth;
        int plane = h * w;
        int pixelStride = sampleModel.getPixelStride();
        int scanlineStride = sampleModel.getScanlineStride();
        int[] bandOffsets = sampleModel.getBandOffsets();
        int[] banks = sampleModel.getBankIndices();
        DataBuffer buffer = raster.getDataBuffer();
        int originX = -raster.getSampleModelTranslateX();
        int originY = -raster.getSampleModelTranslateY();
        int colorBands = gray ? 1 : 3;
        int[] start = bandStart;
        for (int b = 0; b < colorBands; b++) {
            start[b] = buffer.getOffsets()[banks[b]] + bandOffsets[b] + originY * scanlineStride + originX * pixelStride;
        }
        if (buffer instanceof DataBufferByte bytes) {
            byte[][] data = bytes.getBankData();
            if (gray) {
                byte[] g = data[banks[0]];
                for (int y = 0; y < h; y++) {
                    int in = start[0] + y * scanlineStride;
                    int out = y * w;
                    for (int x = 0; x < w; x++, in += pixelStride) {
                        putGray(out + x, plane, (g[in] & 0xFF) * INV_255);
                    }
                }
            } else {
                byte[] r = data[banks[0]];
                byte[] g = data[banks[1]];
                byte[] b = data[banks[2]];
                for (int y = 0; y < h; y++) {
                    int rowOffset = y * scanlineStride;
                    int out = y * w;
                    for (int x = 0; x < w; x++) {
                        int p = rowOffset + x * pixelStride;
                        putRgb(out + x, plane, (r[start[0] + p] & 0xFF) * INV_255, (g[start[1] + p] & 0xFF) * INV_255,
                                (b[start[2] + p] & 0xFF) * INV_255);
                    }
                }
            }
        } else {
            short[][] data = ((DataBufferUShort) buffer).getBankData();
            for (int y = 0; y < h; y++) {
                int rowOffset = y * scanlineStride;
                int out = y * w;
                for (int x = 0; x < w; x++) {
                    int p = rowOffset + x * pixelStride;
                    if (gray) {
                        putGray(out + x, plane, (data[banks[0]][start[0] + p] & 0xFFFF) * INV_65535);
                    } else {
                        putRgb(out + x, plane, (data[banks[0]][start[0] + p] & 0xFFFF) * INV_65535,
                                (data[banks[1]][start[1] + p] & 0xFFFF) * INV_65535, (data[banks[2]][start[2] + p] & 0xFFFF) * INV_65535);
                    }
                }
            }
        }
    }

    /** Everything else (palette PNGs, packed or 1/2/4-bit images): through sRGB, one row at a time. */
    private void loadThroughRgb(BufferedImage image) {
        int h = sourceHeight;
        int w = sourceWidth;
        int plane = h * w;
        if (rgbRow.length < w) {
            rgbRow = new int[w];
        }
        for (int y = 0; y < h; y++) {
            image.getRGB(0, y, w, 1, rgbRow, 0, w);
            int out = y * w;
            for (int x = 0; x < w; x++) {
                int argb = rgbRow[x];
                putRgb(out + x, plane, ((argb >> 16) & 0xFF) * INV_255, ((argb >> 8) & 0xFF) * INV_255, (argb & 0xFF) * INV_255);
            }
        }
    }

    private void putGray(int index, int plane, float v) {
        source[index] = v;
        if (outChannels == 3) {
            source[plane + index] = v;
            source[2 * plane + index] = v;
        }
    }

    private void putRgb(int index, int plane, float r, float g, float b) {
        if (outChannels == 1) {
            source[index] = luma(r, g, b);
        } else {
            source[index] = r;
            source[plane + index] = g;
            source[2 * plane + index] = b;
        }
    }

    /**
     * Decodes PNG/JPEG bytes with ImageIO, in memory (no cache file). A reader warning (for example a
     * JPEG that ends early, which ImageIO otherwise fills with gray) counts as a corrupt image.
     *
     * @throws BadRecordException naming {@code source} if the bytes are not a readable image
     */
    public static BufferedImage readImage(byte[] bytes, String source) {
        if (bytes.length == 0) {
            throw new BadRecordException(source, "is empty (0 bytes)");
        }
        ImageReader reader = null;
        try (ImageInputStream input = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(input);
            if (!readers.hasNext()) {
                throw new BadRecordException(source, "is not a PNG or JPEG image (" + ImageProbe.describeStart(bytes) + ")");
            }
            reader = readers.next();
        } catch (IOException e) {
            throw new BadRecordException(source, "cannot be read (" + describe(e) + ")", e);
        }
        List<String> warnings = new ArrayList<>(2);
        reader.addIIOReadWarningListener((r, warning) -> warnings.add(warning));
        try {
            return decodeWith(reader, bytes, source, warnings);
        } finally {
            reader.dispose();
        }
    }

    /** Decodes with this instance's cached PNG/JPEG reader (one per format), or through the registry for anything else. */
    private BufferedImage readEncoded(byte[] bytes, String source) {
        boolean png = bytes.length >= 8 && (bytes[0] & 0xFF) == 0x89 && bytes[1] == 'P' && bytes[2] == 'N' && bytes[3] == 'G';
        boolean jpeg = bytes.length >= 3 && (bytes[0] & 0xFF) == 0xFF && (bytes[1] & 0xFF) == 0xD8 && (bytes[2] & 0xFF) == 0xFF;
        if (!png && !jpeg) {
            return readImage(bytes, source);
        }
        ImageReader reader = png ? pngReader : jpegReader;
        if (reader == null) {
            reader = ImageIO.getImageReadersByFormatName(png ? "png" : "jpeg").next();
            reader.addIIOReadWarningListener(warningListener);
            if (png) {
                pngReader = reader;
            } else {
                jpegReader = reader;
            }
        }
        boolean ok = false;
        try {
            BufferedImage image = decodeWith(reader, bytes, source, readWarnings);
            ok = true;
            return image;
        } finally {
            if (!ok) {
                // A reader that failed mid-image may keep broken state: start the next image with a fresh one.
                reader.dispose();
                if (png) {
                    pngReader = null;
                } else {
                    jpegReader = null;
                }
            }
        }
    }

    private static BufferedImage decodeWith(ImageReader reader, byte[] bytes, String source, List<String> warnings) {
        warnings.clear();
        try (ImageInputStream input = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
            reader.setInput(input, true, true);
            BufferedImage image = reader.read(0);
            if (!warnings.isEmpty()) {
                throw new BadRecordException(source, "is corrupt or truncated (" + reader.getFormatName() + " decoder: "
                        + String.join("; ", warnings) + ")");
            }
            return image;
        } catch (IOException | RuntimeException e) {
            if (e instanceof BadRecordException bad) {
                throw bad;
            }
            OutOfMemoryError outOfHeap = outOfHeap(e, source, bytes.length);
            if (outOfHeap != null) {
                throw outOfHeap;
            }
            throw new BadRecordException(source, "cannot be decoded (" + describe(e) + ")", e);
        } finally {
            reader.setInput(null);
        }
    }

    /** Releases the cached image readers (their native JPEG state). */
    @Override
    public void close() {
        if (pngReader != null) {
            pngReader.dispose();
            pngReader = null;
        }
        if (jpegReader != null) {
            jpegReader.dispose();
            jpegReader = null;
        }
    }

    /**
     * ImageIO's PNG reader wraps whatever its decoding throws, OutOfMemoryError too, in an IIOException: that is
     * this JVM's heap, not a bad file, and must neither be skipped as one under {@code --bad-records skip} nor
     * advise fixing the file. Returns the error to throw instead, naming the image and the fix, or null.
     */
    static OutOfMemoryError outOfHeap(Throwable e, String source, int encodedBytes) {
        for (Throwable cause = e; cause != null; cause = cause.getCause() == cause ? null : cause.getCause()) {
            if (cause instanceof OutOfMemoryError) {
                OutOfMemoryError error = new OutOfMemoryError(source + ": the heap ran out while decoding this image ("
                        + encodedBytes + " bytes encoded; " + cause.getMessage() + "). The file is not at fault: give the JVM"
                        + " that decodes more heap (spark.executor.memory; spark.driver.memory in local mode)");
                error.initCause(e);
                return error;
            }
        }
        return null;
    }

    private static String describe(Throwable e) {
        StringBuilder s = new StringBuilder(e.getClass().getSimpleName() + ": " + e.getMessage());
        for (Throwable cause = e.getCause(); cause != null && cause != e; cause = cause.getCause()) {
            s.append(" <- ").append(cause.getClass().getSimpleName()).append(": ").append(cause.getMessage());
            e = cause;
        }
        return s.toString();
    }
}
