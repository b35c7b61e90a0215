package io.lockstep.bench.dl4jspark;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.api.TrainingMaster;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.deeplearning4j.spark.parameterserver.training.SharedTrainingMaster;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.parameterserver.distributed.conf.VoidConfiguration;
import org.nd4j.parameterserver.distributed.v2.enums.MeshBuildMode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.Writer;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.IntStream;
import java.util.zip.GZIPInputStream;

/**
 * The DL4J Spark peer of {@code lockstep train}: trains Lockstep's lenet5 or resnet20 (copied in
 * {@link PeerModels}) on Fashion-MNIST with DL4J's own Spark training, {@code ParameterAveragingTrainingMaster}
 * or {@code SharedTrainingMaster} (threshold-encoded gradient sharing), with the same per-worker batch,
 * optimizer (Nesterov 0.9 with per-layer decoupled weight decay), learning rate (linear scaling by the
 * worker count, half cosine per iteration), seed and number of examples per epoch as Lockstep. Each epoch
 * is one {@code fit} over a freshly shuffled RDD of batch-sized DataSets (seed + epoch); evaluation
 * runs on the driver. Writes {@code OUT/metrics.jsonl} and {@code OUT/summary.json} in Lockstep's shape,
 * prints {@code epoch E/N ... test accuracy A} lines to stderr, and records per executor JVM whether it
 * received any update from the network ({@link ExchangeProbe}): the answer to "did it train data-parallel".
 *
 * <p>Run by integration-tests/bench/dl4j/run-peer.sh (classpath, JVM flags). Options: see {@link Options}.
 */
public final class DL4JSparkPeer {
    private static final Logger LOG = LoggerFactory.getLogger(DL4JSparkPeer.class);
    private static final int CLASSES = 10;

    private DL4JSparkPeer() {
    }

    /** Command-line options, validated in one place. */
    record Options(String master, String trainingMaster, String model, Path data, Path out, int epochs, int batchSize,
                   int workers, int workersPerNode, double lr, String lrScaling, String lrDecay, double weightDecay,
                   long seed, int maxStepsPerEpoch, int averagingFrequency, double threshold, String networkMask,
                   String controllerAddress, int unicastPort, int evalBatchSize) {

        static Options parse(String[] args) {
            Map<String, String> m = new LinkedHashMap<>();
            for (int i = 0; i < args.length; i++) {
                if (!args[i].startsWith("--") || i + 1 >= args.length) {
                    throw new IllegalArgumentException("expected --option value pairs, got '" + args[i] + "'");
                }
                m.put(args[i].substring(2), args[++i]);
            }
            Options o = new Options(m.getOrDefault("master", "local[2]"), m.getOrDefault("training-master", "averaging"),
                    m.getOrDefault("model", "lenet5"), Path.of(require(m, "data")), Path.of(require(m, "out")),
                    Integer.parseInt(m.getOrDefault("epochs", "5")), Integer.parseInt(m.getOrDefault("batch-size", "64")),
                    Integer.parseInt(m.getOrDefault("workers", "2")), Integer.parseInt(m.getOrDefault("workers-per-node", "0")),
                    Double.parseDouble(m.getOrDefault("lr", "0.01")), m.getOrDefault("lr-scaling", "linear"),
                    m.getOrDefault("lr-decay", "cosine"), Double.parseDouble(m.getOrDefault("weight-decay", "0")),
                    Long.parseLong(m.getOrDefault("seed", "42")), Integer.parseInt(m.getOrDefault("max-steps-per-epoch", "0")),
                    Integer.parseInt(m.getOrDefault("averaging-frequency", "5")), Double.parseDouble(m.getOrDefault("threshold", "1e-3")),
                    m.get("network-mask"), m.get("controller-address"), Integer.parseInt(m.getOrDefault("unicast-port", "49876")),
                    Integer.parseInt(m.getOrDefault("eval-batch-size", "256")));
            Set<String> known = Set.of("master", "training-master", "model", "data", "out", "epochs", "batch-size", "workers",
                    "workers-per-node", "lr", "lr-scaling", "lr-decay", "weight-decay", "seed", "max-steps-per-epoch",
                    "averaging-frequency", "threshold", "network-mask", "controller-address", "unicast-port", "eval-batch-size");
            List<String> errors = new ArrayList<>();
            m.keySet().stream().filter(k -> !known.contains(k)).forEach(k -> errors.add("--" + k + ": unknown option"));
            if (!List.of("averaging", "shared").contains(o.trainingMaster)) {
                errors.add("--training-master: averaging (ParameterAveragingTrainingMaster) or shared (SharedTrainingMaster)");
            }
            if (o.epochs < 1 || o.batchSize < 1 || o.workers < 1 || o.averagingFrequency < 1 || o.evalBatchSize < 1) {
                errors.add("--epochs, --batch-size, --workers, --averaging-frequency and --eval-batch-size must be >= 1");
            }
            if (!(o.lr > 0) || o.weightDecay < 0 || o.maxStepsPerEpoch < 0 || !(o.threshold > 0)) {
                errors.add("--lr and --threshold must be > 0, --weight-decay and --max-steps-per-epoch >= 0");
            }
            if (!List.of("linear", "none").contains(o.lrScaling) || !List.of("cosine", "none").contains(o.lrDecay)) {
                errors.add("--lr-scaling: linear or none; --lr-decay: cosine or none");
            }
            if (!errors.isEmpty()) {
                throw new IllegalArgumentException("invalid options:\n  " + String.join("\n  ", errors));
            }
            return o;
        }

        private static String require(Map<String, String> m, String key) {
            String v = m.get(key);
            if (v == null) {
                throw new IllegalArgumentException("--" + key + " is required");
            }
            return v;
        }

        boolean shared() {
            return trainingMaster.equals("shared");
        }

        boolean localMode() {
            return master.startsWith("local");
        }
    }

    /** Images scaled to [0, 1] (no other normalization, no augmentation: Lockstep's defaults) and labels. */
    record Split(float[][] images, int[] labels, int channels, int height, int width) {
    }

    public static void main(String[] args) throws Exception {
        long jvmStartMs = ManagementFactory.getRuntimeMXBean().getStartTime();
        Options o;
        try {
            o = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("dl4j-spark-peer: " + e.getMessage());
            System.exit(2);
            return;
        }
        int status = run(o, jvmStartMs);
        // Spark 3.5 can leave non-daemon threads behind after stop(): end the JVM explicitly.
        System.exit(status);
    }

    static int run(Options o, long jvmStartMs) throws IOException {
        Files.createDirectories(o.out);
        Split train = readIdx(o.data, "train");
        Split test = readIdx(o.data, "t10k");
        int globalBatch = o.workers * o.batchSize;
        int fullSteps = train.labels.length / globalBatch;
        int steps = o.maxStepsPerEpoch > 0 ? Math.min(o.maxStepsPerEpoch, fullSteps) : fullSteps;
        double target = o.lrScaling.equals("linear") ? o.lr * o.workers : o.lr;
        Nesterovs updater = o.lrDecay.equals("cosine")
                ? new Nesterovs(new CosineSchedule(target, o.epochs * steps), 0.9) : new Nesterovs(target, 0.9);
        ComputationGraph net = new ComputationGraph(PeerModels.build(o.model, train.channels, train.height, train.width,
                CLASSES, o.seed, updater, o.weightDecay));
        net.init();
        long trainable = PeerModels.trainable(net);
        long expected = PeerModels.expectedTrainable(o.model, train.channels, train.height, train.width);
        if (expected > 0 && trainable != expected) {
            throw new IllegalStateException(o.model + ": the DL4J peer has " + trainable + " trainable parameters but Lockstep has "
                    + expected + "; PeerModels has drifted from models/src/main/java/io/lockstep/models");
        }
        String driverHelper = OneDnnCheck.convolutionHelper();
        LOG.info("{}: {} trainable parameters; driver convolution helper {}", o.model, trainable, driverHelper);

        SparkConf conf = new SparkConf().setAppName("dl4j-spark-peer " + o.trainingMaster + " " + o.model)
                .setIfMissing("spark.master", o.master)
                .setIfMissing("spark.ui.enabled", "false")
                .setIfMissing("spark.driver.maxResultSize", "2g")
                .setIfMissing("spark.scheduler.minRegisteredResourcesRatio", "1.0")
                .setIfMissing("spark.scheduler.maxRegisteredResourcesWaitingTime", "120s");
        List<Map<String, Object>> epochs = new ArrayList<>();
        List<Double> accuracy = new ArrayList<>();
        List<Map<String, Object>> executors;
        long images = 0;
        double trainSeconds = 0;
        try (JavaSparkContext sc = new JavaSparkContext(conf);
             Writer metrics = Files.newBufferedWriter(o.out.resolve("metrics.jsonl"), StandardCharsets.UTF_8)) {
            TrainingMaster<?, ?> master = trainingMaster(o, sc);
            SparkComputationGraph sparkNet = new SparkComputationGraph(sc, net, master);
            sparkNet.setListeners(new ExchangeProbe(o.shared()));
            ObjectMapper json = new ObjectMapper();
            for (int epoch = 0; epoch < o.epochs; epoch++) {
                List<DataSet> batches = epochBatches(train, o.seed, epoch, o.batchSize, steps * o.workers);
                long t0 = System.nanoTime();
                // Ship the epoch's batches to the executors once and cut the RDD loose from the driver's
                // collection. A plain parallelize() RDD carries its data inside every task, so each of
                // ParameterAveraging's splits re-sent a whole partition from the driver (93 MB per task for
                // lenet5; epochs 1.9x slower) — a cost of this harness, not of DL4J's training. The load is
                // inside the epoch's time, as Lockstep's reading is inside its own.
                JavaRDD<DataSet> rdd = sc.parallelize(batches, o.workers);
                rdd.rdd().localCheckpoint();
                rdd.count();
                double loadSeconds = (System.nanoTime() - t0) / 1e9;
                sparkNet.fit(rdd);
                double seconds = (System.nanoTime() - t0) / 1e9;
                long t1 = System.nanoTime();
                double acc = evaluate(sparkNet.getNetwork(), test, o.evalBatchSize);
                double evalSeconds = (System.nanoTime() - t1) / 1e9;
                long epochImages = (long) batches.size() * o.batchSize;
                images += epochImages;
                trainSeconds += seconds;
                accuracy.add(acc);
                Map<String, Object> e = new LinkedHashMap<>();
                e.put("type", "epoch");
                e.put("epoch", epoch + 1);
                e.put("steps", steps);
                e.put("loss", sparkNet.getScore());
                e.put("test_accuracy", acc);
                e.put("seconds", seconds);
                e.put("images_per_second", epochImages / seconds);
                e.put("evaluation_seconds", evalSeconds);
                e.put("data_load_seconds", loadSeconds);
                e.put("elapsed_since_launch_seconds", (System.currentTimeMillis() - jvmStartMs) / 1e3);
                epochs.add(e);
                metrics.write(json.writeValueAsString(e) + "\n");
                metrics.flush();
                System.err.printf(Locale.ROOT, "epoch %d/%d  loss %.4f  test accuracy %.4f  %.0f img/s%n", epoch + 1, o.epochs,
                        sparkNet.getScore(), acc, epochImages / seconds);
                rdd.unpersist(false);
                batches.forEach(DataSet::detach);
            }
            executors = probeExecutors(sc, o);
            if (master instanceof SharedTrainingMaster) {
                // DL4J keeps its parameter server (and its Aeron media driver) per JVM; let it go cleanly.
                org.nd4j.parameterserver.distributed.v2.ModelParameterServer.getInstance().shutdown();
            }
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("system", "dl4j-spark-" + o.trainingMaster);
        summary.put("model", o.model);
        summary.put("epochs", o.epochs);
        summary.put("replicas", o.workers);
        summary.put("batch_size_per_replica", o.batchSize);
        summary.put("steps_per_epoch", steps);
        summary.put("trainable_parameters", trainable);
        summary.put("lockstep_trainable_parameters", expected);
        summary.put("normalization", "batch (per-worker statistics; DL4J has no synchronized BatchNorm)");
        summary.put("test_accuracy", accuracy.get(accuracy.size() - 1));
        summary.put("test_accuracy_per_epoch", accuracy);
        summary.put("train_seconds", trainSeconds);
        summary.put("images_trained", images);
        summary.put("images_per_second_training", images / trainSeconds);
        double wall = (System.currentTimeMillis() - jvmStartMs) / 1e3;
        summary.put("wall_seconds", wall);
        summary.put("images_per_second", images / wall);
        summary.put("driver_peak_rss_mb", peakRssMb());
        summary.put("driver_convolution_helper", driverHelper);
        summary.put("executors", executors);
        summary.put("exchange_verdict", verdict(o, executors));
        summary.put("job", o.toString());
        summary.put("build", Map.of("dl4j_spark", "1.0.0-M2", "dl4j_core", "1.0.0-M2.1 (nd4j-native onednn-avx2)",
                "spark", org.apache.spark.package$.MODULE$.SPARK_VERSION(), "java", System.getProperty("java.version")));
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(o.out.resolve("summary.json").toFile(), summary);
        PrintStream err = System.err;
        err.printf(Locale.ROOT, "test accuracy %.4f after %d epochs, %.1f s, %.0f img/s training; %s%n",
                accuracy.get(accuracy.size() - 1), o.epochs, wall, images / trainSeconds, summary.get("exchange_verdict"));
        return 0;
    }

    private static TrainingMaster<?, ?> trainingMaster(Options o, JavaSparkContext sc) {
        if (!o.shared()) {
            return new ParameterAveragingTrainingMaster.Builder(o.batchSize)
                    .batchSizePerWorker(o.batchSize)
                    .averagingFrequency(o.averagingFrequency)
                    .workerPrefetchNumBatches(2)
                    .rddTrainingApproach(RDDTrainingApproach.Direct)
                    .rngSeed(o.seed)
                    .build();
        }
        VoidConfiguration.VoidConfigurationBuilder voidConf = VoidConfiguration.builder()
                .unicastPort(o.unicastPort)
                .meshBuildMode(MeshBuildMode.PLAIN);
        if (o.networkMask != null) {
            voidConf.networkMask(o.networkMask);
        }
        if (o.controllerAddress != null) {
            voidConf.controllerAddress(o.controllerAddress);
        } else if (o.localMode() || o.networkMask == null) {
            voidConf.controllerAddress("127.0.0.1");
        }
        // local[N]: one JVM, so DL4J runs N trainer threads sharing updates in memory (ParallelWrapper);
        // on a cluster: one trainer per executor, sharing over Aeron UDP.
        int perNode = o.workersPerNode > 0 ? o.workersPerNode : (o.localMode() ? o.workers : 1);
        return new SharedTrainingMaster.Builder(voidConf.build(), o.workers,
                new org.deeplearning4j.optimize.solvers.accumulation.encoding.threshold.AdaptiveThresholdAlgorithm(o.threshold),
                o.batchSize)
                .batchSizePerWorker(o.batchSize)
                .workersPerNode(perNode)
                .workerPrefetchNumBatches(2)
                .rddTrainingApproach(RDDTrainingApproach.Direct)
                .rngSeed(o.seed)
                .build();
    }

    /** Per executor JVM: iterations, trainer threads, updates received from the network, OneDNN helper. */
    private static List<Map<String, Object>> probeExecutors(JavaSparkContext sc, Options o) {
        int probes = Math.max(16, 8 * o.workers); // enough tasks to land on every executor
        List<Map<String, Object>> all = sc.parallelize(IntStream.range(0, probes).boxed().toList(), probes)
                .mapPartitions(ignored -> Collections.singletonList(ExchangeProbe.snapshot()).iterator())
                .collect();
        Map<String, Map<String, Object>> byJvm = new LinkedHashMap<>();
        for (Map<String, Object> s : all) {
            byJvm.putIfAbsent(String.valueOf(s.get("jvm")), s);
        }
        return new ArrayList<>(byJvm.values());
    }

    /** Plain words on whether this run trained data-parallel, from the executors' own counters. */
    static String verdict(Options o, List<Map<String, Object>> executors) {
        List<Map<String, Object>> trained = executors.stream()
                .filter(e -> ((Number) e.get("training_iterations")).longValue() > 0).toList();
        if (!o.shared()) {
            return "parameter averaging every " + o.averagingFrequency + " minibatches through the Spark driver; "
                    + trained.size() + " JVM(s) trained";
        }
        if (trained.size() == 1) {
            int threads = ((Number) trained.get(0).get("trainer_threads")).intValue();
            return threads > 1 ? "ONE JVM with " + threads + " trainer threads sharing threshold-encoded updates in memory "
                    + "(DL4J ParallelWrapper); nothing crossed a network"
                    : "ONE trainer in ONE JVM: NOT data-parallel";
        }
        long silent = trained.stream().filter(e -> ((Number) e.get("updates_received_from_network")).longValue() == 0).count();
        if (silent == trained.size()) {
            return "EXCHANGED NOTHING: " + trained.size() + " executor JVMs trained but none received a single update from "
                    + "the network; these figures are independent training, not data-parallel";
        }
        if (silent > 0) {
            return "PARTIAL: " + silent + " of " + trained.size() + " training executors received no update from the network";
        }
        return "data-parallel: every one of " + trained.size() + " executor JVMs received updates from the network";
    }

    private static double evaluate(ComputationGraph net, Split test, int batchSize) {
        long correct = 0;
        for (int from = 0; from < test.labels.length; from += batchSize) {
            int n = Math.min(batchSize, test.labels.length - from);
            DataSet batch = batch(test, IntStream.range(from, from + n).toArray());
            int[] predicted = net.outputSingle(false, batch.getFeatures()).argMax(1).toIntVector();
            for (int i = 0; i < n; i++) {
                if (predicted[i] == test.labels[from + i]) {
                    correct++;
                }
            }
        }
        return correct / (double) test.labels.length;
    }

    /** A seeded shuffle per epoch (Lockstep's EpochPlan draws its own), cut into batches; the last partial batch dropped. */
    private static List<DataSet> epochBatches(Split train, long seed, int epoch, int batchSize, int batchesWanted) {
        List<Integer> order = new ArrayList<>(IntStream.range(0, train.labels.length).boxed().toList());
        Collections.shuffle(order, new Random(seed * 1_000_003L + epoch));
        List<DataSet> batches = new ArrayList<>(batchesWanted);
        for (int b = 0; b < batchesWanted; b++) {
            int[] idx = new int[batchSize];
            for (int i = 0; i < batchSize; i++) {
                idx[i] = order.get(b * batchSize + i);
            }
            batches.add(batch(train, idx));
        }
        return batches;
    }

    private static DataSet batch(Split split, int[] idx) {
        int pixels = split.channels * split.height * split.width;
        float[] features = new float[idx.length * pixels];
        float[] labels = new float[idx.length * CLASSES];
        for (int i = 0; i < idx.length; i++) {
            System.arraycopy(split.images[idx[i]], 0, features, i * pixels, pixels);
            labels[i * CLASSES + split.labels[idx[i]]] = 1f;
        }
        INDArray f = Nd4j.create(features, new long[]{idx.length, split.channels, split.height, split.width}, DataType.FLOAT);
        INDArray l = Nd4j.create(labels, new long[]{idx.length, CLASSES}, DataType.FLOAT);
        return new DataSet(f, l);
    }

    /** Reads {@code PREFIX-images-idx3-ubyte[.gz]} and {@code PREFIX-labels-idx1-ubyte[.gz]}. */
    static Split readIdx(Path dir, String prefix) throws IOException {
        byte[][] raw;
        int rows;
        int cols;
        try (DataInputStream in = new DataInputStream(open(dir, prefix + "-images-idx3-ubyte"))) {
            int magic = in.readInt();
            if (magic != 0x803) {
                throw new IOException(dir + "/" + prefix + "-images-idx3-ubyte: not an IDX image file (magic " + Integer.toHexString(magic) + ")");
            }
            int n = in.readInt();
            rows = in.readInt();
            cols = in.readInt();
            raw = new byte[n][rows * cols];
            for (byte[] image : raw) {
                in.readFully(image);
            }
        }
        int[] labels;
        try (DataInputStream in = new DataInputStream(open(dir, prefix + "-labels-idx1-ubyte"))) {
            if (in.readInt() != 0x801) {
                throw new IOException(dir + "/" + prefix + "-labels-idx1-ubyte: not an IDX label file");
            }
            labels = new int[in.readInt()];
            for (int i = 0; i < labels.length; i++) {
                labels[i] = in.readUnsignedByte();
            }
        }
        if (labels.length != raw.length) {
            throw new IOException(dir + ": " + prefix + " has " + raw.length + " images but " + labels.length + " labels");
        }
        float[][] images = new float[raw.length][rows * cols];
        for (int i = 0; i < raw.length; i++) {
            for (int p = 0; p < rows * cols; p++) {
                images[i][p] = (raw[i][p] & 0xFF) / 255f;
            }
        }
        return new Split(images, labels, 1, rows, cols);
    }

    private static InputStream open(Path dir, String stem) throws IOException {
        Path gz = dir.resolve(stem + ".gz");
        if (Files.exists(gz)) {
            return new GZIPInputStream(Files.newInputStream(gz), 1 << 16);
        }
        Path plain = dir.resolve(stem);
        if (Files.exists(plain)) {
            return Files.newInputStream(plain);
        }
        throw new IOException(dir + ": missing " + stem + "[.gz]; install Fashion-MNIST with `apt-get install dataset-fashion-mnist` "
                + "(/usr/share/datasets/fashion-mnist) or pass --data DIR with the four IDX files");
    }

    private static double peakRssMb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (IOException e) {
            LOG.warn("cannot read /proc/self/status for the peak RSS: {}", e.getMessage());
        }
        return Double.NaN;
    }
}
