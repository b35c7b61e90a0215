package io.lockstep.worker.data;

import io.lockstep.models.InputShape;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;

import java.util.List;
import java.util.Random;
import java.util.zip.GZIPInputStream;

/**
 * Decode throughput per core (images per CPU-second of one thread), through the same {@link ImageBatchDecoder}
 * the executors use (batches of 64, output arrays included), for the dataset shapes Lockstep is
 * used with. Prints a table; asserts nothing. Run (from the repository root):
 * <pre>
 * mvn -B -o -q -pl worker test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.cp -Dmdep.includeScope=test
 * java -cp worker/target/test-classes:worker/target/classes:$(cat worker/target/bench.cp) io.lockstep.worker.data.DecodeBenchmark
 * </pre>
 * Fashion-MNIST images come from {@code data/fashion-mnist-small} (argument 1 overrides the path);
 * the larger images are synthetic photographs-like pictures (smooth shading, edges and noise), seeded.
 */
public final class DecodeBenchmark {
    private static final int BATCH = 64;
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final double WARMUP_SECONDS = 1.5;
    private static final double MEASURE_SECONDS = 3;

    private DecodeBenchmark() {
    }

    public static void main(String[] args) throws IOException {
        Path fashion = Path.of(args.length > 0 ? args[0] : "data/fashion-mnist-small/train-images-idx3-ubyte.gz");
        List<byte[]> fashionPixels = readIdx(fashion, 2048);
        System.out.printf("decode throughput per core (images per CPU-second of the decoding thread), batches of %d;%n"
                + "%s, %d cores, ImageIO JPEG reader %s%n", BATCH,
                System.getProperty("java.vm.name") + " " + System.getProperty("java.version"),
                Runtime.getRuntime().availableProcessors(), ImageIO.getImageReadersByFormatName("jpeg").next().getClass().getName());
        System.out.printf("%-58s %12s %12s%n", "case", "images/s", "ImageIO only");

        List<LabeledRecord> raw = new ArrayList<>();
        List<LabeledRecord> png28 = new ArrayList<>();
        for (byte[] pixels : fashionPixels) {
            raw.add(new LabeledRecord(0, pixels));
            BufferedImage gray = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
            gray.getRaster().setDataElements(0, 0, 28, 28, pixels);
            png28.add(new LabeledRecord(0, encode(gray, "png"), "fashion.png"));
        }
        InputShape fashionShape = new InputShape(1, 28, 28);
        // Untimed round first, so that the first case does not pay for the JIT compiling the shared code.
        measure(raw, (batch, step) -> new ImageBatchDecoder(RecordFormat.raw(1, 28, 28),
                ImageTransform.plain(fashionShape).withAugmentation(2, true, true, 0.08), 10, BadRecordPolicy.FAIL)
                .decode(batch, true, 1, 0, 0, step), WARMUP_SECONDS);
        measure(png28, (batch, step) -> new ImageBatchDecoder(RecordFormat.encoded(), ImageTransform.plain(fashionShape), 10,
                BadRecordPolicy.FAIL).decode(batch, true, 1, 0, 0, step), WARMUP_SECONDS);
        run("IDX raw 28x28 gray -> 1x28x28", RecordFormat.raw(1, 28, 28), ImageTransform.plain(fashionShape), raw, false);
        run("IDX raw 28x28 gray -> 1x28x28, crop pad 2 + flip + norm", RecordFormat.raw(1, 28, 28),
                ImageTransform.plain(fashionShape).withAugmentation(2, true, false, 0.08)
                        .withNormalizer(new Normalizer(new float[]{0.286f}, new float[]{0.353f})), raw, false);
        run("PNG 28x28 gray (Fashion-MNIST) -> 1x28x28", RecordFormat.encoded(), ImageTransform.plain(fashionShape), png28, true);

        List<LabeledRecord> png32 = synthetic(256, 32, 32, "png");
        run("PNG 32x32 RGB -> 3x32x32, crop pad 4 + flip + norm", RecordFormat.encoded(),
                ImageTransform.plain(new InputShape(3, 32, 32)).withAugmentation(4, true, false, 0.08)
                        .withNormalizer(new Normalizer(new float[]{0.49f, 0.48f, 0.45f}, new float[]{0.25f, 0.24f, 0.26f})), png32, true);
        ImageTransform imagenet = ImageTransform.plain(new InputShape(3, 224, 224)).withAugmentation(0, true, true, 0.08)
                .withNormalizer(new Normalizer(new float[]{0.485f, 0.456f, 0.406f}, new float[]{0.229f, 0.224f, 0.225f}));
        List<LabeledRecord> jpeg256 = synthetic(64, 256, 256, "jpeg");
        run("JPEG 256x256 RGB -> 3x224x224, random resized crop + flip", RecordFormat.encoded(), imagenet, jpeg256, true);
        run("JPEG 256x256 RGB -> 3x224x224, eval (resize only)", RecordFormat.encoded(), imagenet.deterministic(), jpeg256, true);
        List<LabeledRecord> jpeg500 = synthetic(64, 500, 375, "jpeg");
        run("JPEG 500x375 RGB -> 3x224x224, random resized crop + flip", RecordFormat.encoded(), imagenet, jpeg500, true);
        List<LabeledRecord> png500 = synthetic(64, 500, 375, "png");
        run("PNG 500x375 RGB -> 3x224x224, random resized crop + flip", RecordFormat.encoded(), imagenet, png500, true);
    }

    private static void run(String name, RecordFormat format, ImageTransform transform, List<LabeledRecord> records, boolean encoded) {
        ImageBatchDecoder decoder = new ImageBatchDecoder(format, transform, 10, BadRecordPolicy.FAIL);
        measure(records, (batch, step) -> decoder.decode(batch, true, 1, 0, 0, step), WARMUP_SECONDS);
        double rate = measure(records, (batch, step) -> decoder.decode(batch, true, 1, 0, 0, step), MEASURE_SECONDS);
        String imageIoOnly = String.format("%12s", "-");
        if (encoded) {
            // The same reuse of one reader per format as RecordDecoder, without the conversion to the model input.
            ImageReader[] cached = new ImageReader[2];
            Step decodeOnly = (batch, step) -> {
                for (LabeledRecord r : batch) {
                    boolean png = r.payload()[1] == 'P';
                    int k = png ? 0 : 1;
                    if (cached[k] == null) {
                        cached[k] = ImageIO.getImageReadersByFormatName(png ? "png" : "jpeg").next();
                    }
                    try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(r.payload()))) {
                        cached[k].setInput(in, true, true);
                        cached[k].read(0);
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
            };
            measure(records, decodeOnly, WARMUP_SECONDS / 2);
            imageIoOnly = String.format("%12.0f", measure(records, decodeOnly, MEASURE_SECONDS / 2));
        }
        int bytes = records.stream().mapToInt(r -> r.payload().length).sum() / records.size();
        System.out.printf("%-58s %12.0f %s   (%d bytes/image)%n", name, rate, imageIoOnly, bytes);
    }

    private interface Step {
        void run(List<LabeledRecord> batch, int step);
    }

    /**
     * Images per second of this thread's CPU time: "per core", and robust to other processes sharing
     * the machine (wall-clock rates on a busy host say more about the neighbours than the decoder).
     */
    private static double measure(List<LabeledRecord> records, Step step, double cpuSeconds) {
        long start = THREADS.getCurrentThreadCpuTime();
        long budget = (long) (cpuSeconds * 1e9);
        long images = 0;
        int s = 0;
        while (THREADS.getCurrentThreadCpuTime() - start < budget) {
            int from = (s * BATCH) % (records.size() - BATCH + 1);
            step.run(records.subList(from, from + BATCH), s++);
            images += BATCH;
        }
        return images / ((THREADS.getCurrentThreadCpuTime() - start) / 1e9);
    }

    private static List<byte[]> readIdx(Path file, int limit) throws IOException {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(file)); DataInputStream data = new DataInputStream(in)) {
            data.readInt();
            int count = data.readInt();
            int rows = data.readInt();
            int cols = data.readInt();
            List<byte[]> images = new ArrayList<>();
            for (int i = 0; i < Math.min(limit, count); i++) {
                byte[] image = new byte[rows * cols];
                data.readFully(image);
                images.add(image);
            }
            return images;
        }
    }

    /** Photograph-like test pictures: smooth shading, a few hard-edged shapes, and sensor-like noise. */
    private static List<LabeledRecord> synthetic(int n, int width, int height, String format) {
        Random random = new Random(7);
        List<LabeledRecord> records = new ArrayList<>();
        int[] row = new int[width];
        for (int i = 0; i < n; i++) {
            BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_3BYTE_BGR);
            double fx = 2 + random.nextDouble() * 6;
            double fy = 2 + random.nextDouble() * 6;
            int cx = random.nextInt(width);
            int cy = random.nextInt(height);
            int radius = Math.max(4, Math.min(width, height) / 4 + random.nextInt(Math.max(1, Math.min(width, height) / 4)));
            for (int y = 0; y < height; y++) {
                for (int x = 0; x < width; x++) {
                    double shade = 0.5 + 0.25 * Math.sin(fx * x / width * Math.PI) * Math.cos(fy * y / height * Math.PI);
                    boolean inside = (x - cx) * (x - cx) + (y - cy) * (y - cy) < radius * radius;
                    int noise = (int) (random.nextGaussian() * 6);
                    int r = clamp((int) (shade * 255) + (inside ? 60 : 0) + noise);
                    int g = clamp((int) (shade * 200) + (inside ? -40 : 20) + noise);
                    int b = clamp((int) ((1 - shade) * 220) + noise);
                    row[x] = r << 16 | g << 8 | b;
                }
                image.setRGB(0, y, width, 1, row, 0, width);
            }
            records.add(new LabeledRecord(i % 10, encode(image, format), "synthetic-" + i + "." + format));
        }
        return records;
    }

    private static int clamp(int v) {
        return Math.max(0, Math.min(255, v));
    }

    private static byte[] encode(BufferedImage image, String format) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ImageIO.write(image, format, out);
            return out.toByteArray();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static {
        // Keep ImageIO from spilling encodes to temporary files while generating the inputs.
        ImageIO.setUseCache(false);
    }
}
