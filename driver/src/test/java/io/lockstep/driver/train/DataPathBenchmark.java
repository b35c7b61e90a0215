package io.lockstep.driver.train;

import io.lockstep.driver.data.DatasetOptions;
import io.lockstep.driver.data.DatasetSource;
import io.lockstep.driver.data.DistributedDataset;
import io.lockstep.driver.plan.EpochPlan;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.spark.ShardItem;
import io.lockstep.worker.train.BatchDecoder;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.nd4j.linalg.dataset.DataSet;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.FileImageOutputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The data path from files to decoded batches, on both reading paths, in Spark {@code local[2]} with 2
 * replicas: time to read (driver) or list + read + cache (executors) an ImageNet-like folder of 224x224
 * JPEGs, the per-epoch cost of routing the records to the replicas (the sorted shuffle), and what one
 * replica's prefetch thread achieves streaming its shard: records/s read from the shuffle, decoded and
 * augmented (random resized crop + flip to 3x224x224, batches of 32), and the bytes each epoch's routing
 * shuffles. Prints figures; asserts nothing. Arguments: the number of images (default 2000), the folder
 * (generated where files are missing; every image is seeded by its index, so any run writes the same
 * bytes), the number of classes (default 10) and which paths to measure ({@code both}, {@code driver},
 * {@code executors}, or {@code none} to generate only); run each path in its own JVM for comparable
 * figures (the first path run in a JVM also pays the JIT's warm-up).
 * <pre>
 * mvn -B -o -q -pl driver -am test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.cp -Dmdep.includeScope=test
 * java -Xmx4g $(lockstep JVM flags) -cp driver/target/test-classes:driver/target/classes:worker/target/classes:models/target/classes:$(cat driver/target/bench.cp) \
 *     io.lockstep.driver.train.DataPathBenchmark [IMAGES] [DIR] [CLASSES] [both|driver|executors|none]
 * </pre>
 */
public final class DataPathBenchmark {
    private static final int SIZE = 224;
    private static final int REPLICAS = 2;
    private static final int BATCH = 32;

    private DataPathBenchmark() {
    }

    public static void main(String[] args) throws IOException {
        int images = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
        Path root = args.length > 1 ? Path.of(args[1]) : Files.createTempDirectory("lockstep-datapath");
        int classes = args.length > 2 ? Integer.parseInt(args[2]) : 10;
        String paths = args.length > 3 ? args[3] : "both";
        long t0 = System.nanoTime();
        long bytes = generate(root, images, classes);
        System.out.printf("BENCH %,d JPEGs %dx%d, %d classes (%,d bytes, %.1f KB each) in %s; %s, %d cores%n", images, SIZE, SIZE,
                classes, bytes, bytes / 1024.0 / images, root, System.getProperty("java.vm.name") + " " + System.getProperty("java.version"),
                Runtime.getRuntime().availableProcessors());
        report("generate", "generate (or find) the images", t0);
        if (paths.equals("none")) {
            System.exit(0);
        }
        DatasetOptions options = DatasetOptions.defaults().withImageSize(SIZE, SIZE).withChannels(3)
                .withAugmentation(0, true, true, 0.08);
        SparkConf conf = new SparkConf().setMaster("local[2]").setAppName("data path benchmark").set("spark.ui.enabled", "false");
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            ShuffleBytes shuffle = new ShuffleBytes();
            sc.sc().addSparkListener(shuffle);
            if (!paths.equals("executors")) {
                t0 = System.nanoTime();
                ListedInput<LabeledRecord> listed = new ListedInput<>(DatasetSource.open(root.toString(), sc.hadoopConfiguration(), options));
                report("driver", "read on the driver", t0);
                measure(sc, "driver", listed, shuffle);
            }
            if (!paths.equals("driver")) {
                t0 = System.nanoTime();
                DistributedDataset distributed = DistributedDataset.open(sc, root.toString(), options);
                report("executors", "list, read and cache on the executors", t0);
                try {
                    measure(sc, "executors", distributed, shuffle);
                } finally {
                    distributed.release();
                }
            }
        }
        System.exit(0);
    }

    /** Shuffle bytes written and read by the tasks that ended since the last {@link #take()}. */
    private static final class ShuffleBytes extends SparkListener {
        private final AtomicLong written = new AtomicLong();
        private final AtomicLong read = new AtomicLong();

        @Override
        public void onTaskEnd(SparkListenerTaskEnd taskEnd) {
            if (taskEnd.taskMetrics() != null) {
                written.addAndGet(taskEnd.taskMetrics().shuffleWriteMetrics().bytesWritten());
                read.addAndGet(taskEnd.taskMetrics().shuffleReadMetrics().totalBytesRead());
            }
        }

        /** Written and read bytes since the last call; waits for the listener bus so the job's tasks are counted. */
        long[] take(JavaSparkContext sc) {
            try {
                sc.sc().listenerBus().waitUntilEmpty(60_000);
            } catch (TimeoutException e) {
                throw new IllegalStateException("Spark's listener bus did not drain within 60 s", e);
            }
            return new long[]{written.getAndSet(0), read.getAndSet(0)};
        }
    }

    private static <R extends Serializable> void measure(JavaSparkContext sc, String path, TrainingInput<R> input, ShuffleBytes shuffle) {
        TrainingJob.RecordLayout<R> layout = new TrainingJob.RecordLayout<>(sc, input, REPLICAS);
        try {
            for (int epoch = 0; epoch < 3; epoch++) {
                EpochPlan plan = new EpochPlan(1, epoch, REPLICAS, layout.trainSize(), BATCH);
                Broadcast<EpochPlan> broadcast = sc.broadcast(plan);
                shuffle.take(sc);
                long t0 = System.nanoTime();
                long routed = layout.routed(broadcast, plan.stepsPerEpoch() * BATCH).count();
                report(path, "epoch " + epoch + ": route " + routed + " records to " + REPLICAS + " replicas (sorted shuffle"
                        + (epoch == 0 ? ", first use: includes caching" : "") + ")", t0);
                long[] bytes = shuffle.take(sc);
                System.out.printf("BENCH %-9s epoch %d: shuffle wrote %,d bytes, read %,d bytes (%.1f KB per routed record)%n", path,
                        epoch, bytes[0], bytes[1], bytes[0] / 1024.0 / routed);
                broadcast.destroy();
            }
            EpochPlan plan = new EpochPlan(1, 3, REPLICAS, layout.trainSize(), BATCH);
            Broadcast<EpochPlan> broadcast = sc.broadcast(plan);
            BatchDecoder<R> decoder = input.decoder();
            int steps = plan.stepsPerEpoch();
            long t0 = System.nanoTime();
            List<double[]> perReplica = layout.routed(broadcast, steps * BATCH).mapPartitionsWithIndex((rank, items) -> {
                long start = System.nanoTime();
                List<R> batch = new ArrayList<>(BATCH);
                int step = 0;
                long records = 0;
                while (items.hasNext()) {
                    ShardItem<R> item = items.next()._2();
                    if (item.test()) {
                        continue;
                    }
                    batch.add(item.record());
                    if (batch.size() == BATCH) {
                        DataSet decoded = decoder.decode(batch, true, 1, 3, rank, step++);
                        records += decoded.numExamples();
                        batch.clear();
                    }
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                Iterator<double[]> result = List.of(new double[]{rank, records, seconds}).iterator();
                return result;
            }, false).collect();
            for (double[] r : perReplica) {
                System.out.printf("BENCH %-9s replica %d streams its shard and decodes + augments %,.0f records in %.1f s: %,.0f records/s%n",
                        path, (int) r[0], r[1], r[2], r[1] / r[2]);
            }
            report(path, "one epoch streamed and decoded by both replicas at once", t0);
            broadcast.destroy();
        } finally {
            layout.release();
        }
    }

    private static void report(String path, String what, long startNanos) {
        System.out.printf("BENCH %-9s %-90s %8.1f s%n", path, what, (System.nanoTime() - startNanos) / 1e9);
    }

    /**
     * Photo-like JPEGs (smooth shading, a disc whose shade is the class, noise), 90 % train / 10 % val;
     * image i is drawn from a random seeded by i alone. Returns the bytes of all images.
     */
    private static long generate(Path root, int images, int classes) throws IOException {
        ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
        ImageWriteParam param = writer.getDefaultWriteParam();
        param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
        param.setCompressionQuality(0.75f);
        BufferedImage image = new BufferedImage(SIZE, SIZE, BufferedImage.TYPE_INT_RGB);
        long bytes = 0;
        for (int i = 0; i < images; i++) {
            int label = i % classes;
            String split = (i / classes) % 10 == 9 ? "val" : "train";
            Path file = root.resolve(split).resolve("c" + label).resolve("img" + i + ".jpg");
            if (!Files.exists(file)) {
                SplittableRandom random = new SplittableRandom(i);
                int cx = random.nextInt(SIZE);
                int cy = random.nextInt(SIZE);
                int r = 20 + random.nextInt(60);
                for (int y = 0; y < SIZE; y++) {
                    for (int x = 0; x < SIZE; x++) {
                        boolean disc = (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r;
                        int base = disc ? 40 + label * 200 / classes : (x + y) * 255 / (2 * SIZE);
                        int n = random.nextInt(32) - 16;
                        int v = Math.max(0, Math.min(255, base + n));
                        image.setRGB(x, y, (v << 16) | (Math.max(0, Math.min(255, 255 - v + n)) << 8) | ((v * 3 + n) & 0xFF));
                    }
                }
                Files.createDirectories(file.getParent());
                try (FileImageOutputStream out = new FileImageOutputStream(file.toFile())) {
                    writer.setOutput(out);
                    writer.write(null, new IIOImage(image, null, null), param);
                }
            }
            bytes += Files.size(file);
        }
        writer.dispose();
        return bytes;
    }
}
