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

/**
 * The data path from files to decoded batches, on both reading paths, in Spark {@code local[2]} with 2
 * replicas: time to read (driver) or list + read + cache (executors) an ImageNet-like folder of 224x224
 * JPEGs, the per-epoch cost of routing the records to the replicas (the sorted shuffle), and what one
 * replica's prefetch thread achieves streaming its shard: records/s read from the shuffle, decoded and
 * augmented (random resized crop + flip to 3x224x224, batches of 32). Prints figures; asserts nothing.
 * <pre>
 * mvn -B -o -q -pl driver -am test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.cp -Dmdep.includeScope=test
 * java -Xmx4g $(lockstep JVM flags) -cp driver/target/test-classes:driver/target/classes:worker/target/classes:models/target/classes:$(cat driver/target/bench.cp) \
 *     io.lockstep.driver.train.DataPathBenchmark [IMAGES] [DIR]
 * </pre>
 */
public final class DataPathBenchmark {
    private static final int SIZE = 224;
    private static final int CLASSES = 10;
    private static final int REPLICAS = 2;
    private static final int BATCH = 32;

    private DataPathBenchmark() {
    }

    public static void main(String[] args) throws IOException {
        int images = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
        Path root = args.length > 1 ? Path.of(args[1]) : Files.createTempDirectory("lockstep-datapath");
        long bytes = generate(root, images);
        System.out.printf("BENCH %,d JPEGs %dx%d (%,d bytes, %.1f KB each) in %s; %s, %d cores%n", images, SIZE, SIZE, bytes,
                bytes / 1024.0 / images, root, System.getProperty("java.vm.name") + " " + System.getProperty("java.version"),
                Runtime.getRuntime().availableProcessors());
        DatasetOptions options = DatasetOptions.defaults().withImageSize(SIZE, SIZE).withChannels(3)
                .withAugmentation(0, true, true, 0.08);
        SparkConf conf = new SparkConf().setMaster("local[2]").setAppName("data path benchmark").set("spark.ui.enabled", "false");
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            long t0 = System.nanoTime();
            ListedInput<LabeledRecord> listed = new ListedInput<>(DatasetSource.open(root.toString(), sc.hadoopConfiguration(), options));
            report("driver", "read on the driver", t0);
            measure(sc, "driver", listed);

            t0 = System.nanoTime();
            DistributedDataset distributed = DistributedDataset.open(sc, root.toString(), options);
            report("executors", "list, read and cache on the executors", t0);
            try {
                measure(sc, "executors", distributed);
            } finally {
                distributed.release();
            }
        }
        System.exit(0);
    }

    private static <R extends Serializable> void measure(JavaSparkContext sc, String path, TrainingInput<R> input) {
        TrainingJob.RecordLayout<R> layout = new TrainingJob.RecordLayout<>(sc, input, REPLICAS);
        try {
            for (int epoch = 0; epoch < 3; epoch++) {
                EpochPlan plan = new EpochPlan(1, epoch, REPLICAS, layout.trainSize(), BATCH);
                Broadcast<EpochPlan> broadcast = sc.broadcast(plan);
                long t0 = System.nanoTime();
                long routed = layout.routed(broadcast, plan.stepsPerEpoch() * BATCH).count();
                report(path, "epoch " + epoch + ": route " + routed + " records to " + REPLICAS + " replicas (sorted shuffle"
                        + (epoch == 0 ? ", first use: includes caching" : "") + ")", t0);
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

    /** Photo-like JPEGs (smooth shading, a disc, noise), 10 classes, 90 % train / 10 % val; returns the bytes written. */
    private static long generate(Path root, int images) throws IOException {
        ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
        ImageWriteParam param = writer.getDefaultWriteParam();
        param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
        param.setCompressionQuality(0.75f);
        SplittableRandom random = new SplittableRandom(3);
        BufferedImage image = new BufferedImage(SIZE, SIZE, BufferedImage.TYPE_INT_RGB);
        long bytes = 0;
        for (int i = 0; i < images; i++) {
            int label = i % CLASSES;
            String split = (i / CLASSES) % 10 == 9 ? "val" : "train";
            Path file = root.resolve(split).resolve("c" + label).resolve("img" + i + ".jpg");
            if (!Files.exists(file)) {
                int cx = random.nextInt(SIZE);
                int cy = random.nextInt(SIZE);
                int r = 20 + random.nextInt(60);
                for (int y = 0; y < SIZE; y++) {
                    for (int x = 0; x < SIZE; x++) {
                        boolean disc = (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r;
                        int base = disc ? 40 + label * 20 : (x + y) * 255 / (2 * SIZE);
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
