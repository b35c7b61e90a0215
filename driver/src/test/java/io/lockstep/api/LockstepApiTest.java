package io.lockstep.api;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.ml.image.ImageSchema;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.deeplearning4j.nn.api.OptimizationAlgorithm;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Java API inside a Spark application that owns its context: the caller's own networks (a
 * ComputationGraph with BatchNorm that is not in the zoo, and a MultiLayerNetwork) trained on a
 * {@code JavaRDD<DataSet>}. Two replicas with batch B give the parameters of one replica with batch 2B.
 */
class LockstepApiTest {
    private static final int CLASSES = 3;
    private static final double TOLERANCE = 1e-5; // as DistributedTrainingTest: float rounding of the summed gradient
    private static final double BATCH_NORM_TOLERANCE = 2e-3;
    private static final AtomicInteger LISTENER_CALLS = new AtomicInteger(); // local mode: executors share this JVM

    private static JavaSparkContext sc;

    @TempDir
    Path dir;

    @BeforeAll
    static void startSpark() {
        sc = new JavaSparkContext(new SparkConf().setMaster("local[2]").setAppName("api-test")
                .set("spark.ui.enabled", "false").set("spark.scheduler.minRegisteredResourcesRatio", "1.0"));
    }

    @AfterAll
    static void stopSpark() {
        sc.close();
    }

    /** 96 examples of 1x8x8 images, 3 classes, in batches of 10 (the RDD's batching must not matter). */
    private static JavaRDD<DataSet> images(boolean flat) {
        Random random = new Random(7);
        List<DataSet> batches = new ArrayList<>();
        for (int start = 0; start < 96; start += 10) {
            int n = Math.min(10, 96 - start);
            INDArray features = Nd4j.create(flat ? new long[]{n, 64} : new long[]{n, 1, 8, 8});
            INDArray labels = Nd4j.zeros(n, CLASSES);
            for (int i = 0; i < n; i++) {
                int label = random.nextInt(CLASSES);
                labels.putScalar(i, label, 1);
                for (int p = 0; p < 64; p++) {
                    features.putScalar(i * 64L + p, random.nextGaussian() * 0.5 + (p % CLASSES == label ? 1 : 0));
                }
            }
            batches.add(new DataSet(features, labels));
        }
        return sc.parallelize(batches, 3);
    }

    private static ComputationGraph graph() {
        ComputationGraph graph = new ComputationGraph(new NeuralNetConfiguration.Builder().seed(3)
                .updater(new Sgd(0.05)).optimizationAlgo(OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT)
                .graphBuilder().addInputs("in")
                .addLayer("conv", new ConvolutionLayer.Builder(3, 3).nOut(4).activation(Activation.IDENTITY).build(), "in")
                .addLayer("bn", new BatchNormalization.Builder().build(), "conv")
                .addLayer("relu", new DenseLayer.Builder().nOut(8).activation(Activation.RELU).build(), "bn")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build(), "relu")
                .setOutputs("out").setInputTypes(InputType.convolutional(8, 8, 1)).build());
        graph.init();
        return graph;
    }

    private static MultiLayerNetwork multiLayer() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(4).updater(new Sgd(0.1)).list()
                .layer(new DenseLayer.Builder().nIn(64).nOut(16).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(16).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork network = new MultiLayerNetwork(conf);
        network.init();
        return network;
    }

    private TrainOptions options(String name, int replicas, int batch) {
        return TrainOptions.defaults().with(TrainOptions.REPLICAS, replicas).with(TrainOptions.BATCH_SIZE, batch)
                .with(TrainOptions.EPOCHS, 2).with(TrainOptions.SEED, 11L).with(TrainOptions.CHECK_EVERY, 1)
                .with(TrainOptions.OUT, dir.resolve(name).toString());
    }

    private static double maxDifference(INDArray a, INDArray b) {
        return a.sub(b).amax().getDouble(0);
    }

    @Test
    void ownComputationGraphWithBatchNormTwoReplicasEqualOneWithTheDoubledBatch() {
        ComputationGraph original = graph();
        INDArray before = original.params().dup();
        original.setListeners(new CountingListener());
        List<EpochResult> heard = new ArrayList<>();
        TrainResult one = Lockstep.on(sc).model(original).options(options("cg1", 1, 32)).fit(images(false));
        TrainResult two = Lockstep.on(sc).model(original).options(options("cg2", 2, 16))
                .listener(new ProgressListener() {
                    @Override
                    public void epochFinished(EpochResult result) {
                        heard.add(result);
                    }
                })
                .fit(images(false));

        assertEquals(before, original.params(), "the caller's network is not modified");
        assertEquals(1, original.getListeners().size(), "the caller's listener is still attached");
        double difference = maxDifference(one.graph().params(), two.graph().params());
        double move = maxDifference(before, two.graph().params());
        assertTrue(move > 1e-3, "training changed the parameters");
        // One replica trains DL4J's own BatchNorm, two the synchronized one: SynchronousEquivalenceTest's
        // tolerance for that pair (the float sums differ), a small fraction of how far the parameters moved.
        assertTrue(difference < BATCH_NORM_TOLERANCE * move, "2 replicas x 16 vs 1 replica x 32: max |difference| "
                + difference + " after a maximal move of " + move);
        assertEquals(2, two.history().size());
        assertEquals(two.history(), heard, "the progress listener heard every epoch");
        assertEquals(2 * 2 * 3, LISTENER_CALLS.get(), "the network's own DL4J listener ran on rank 0: 2 runs x 2 epochs x 3 steps");
        assertTrue(two.checkpointDir().endsWith("cg2/checkpoints"), two.checkpointDir());
        assertEquals(14, sc.parallelize(List.of(1, 2, 3, 4)).map(x -> x + 1).reduce(Integer::sum), "the context is still usable");
    }

    /** Spark image structs of 1x8x8 grey pixels with a numeric label column, like {@link #images}. */
    private static Dataset<Row> imageFrame(SparkSession spark, int rows, long seed) {
        Random random = new Random(seed);
        StructType schema = new StructType().add("image", ImageSchema.columnSchema()).add("label", DataTypes.DoubleType);
        List<Row> data = new ArrayList<>();
        for (int i = 0; i < rows; i++) {
            int label = random.nextInt(CLASSES);
            byte[] pixels = new byte[64];
            for (int p = 0; p < 64; p++) {
                pixels[p] = (byte) Math.max(0, Math.min(255, 60 + random.nextGaussian() * 30 + (p % CLASSES == label ? 120 : 0)));
            }
            data.add(RowFactory.create(RowFactory.create("row:" + i, 8, 8, 1, 0, pixels), (double) label));
        }
        return spark.createDataFrame(data, schema);
    }

    @Test
    void dataFrameOfImagesOnASparkSessionTwoReplicasEqualOneWithTheDoubledBatch() {
        SparkSession spark = SparkSession.builder().getOrCreate(); // this test's context
        Dataset<Row> train = imageFrame(spark, 96, 5);
        Dataset<Row> test = imageFrame(spark, 30, 6);
        ImageColumns columns = ImageColumns.of("image", "label", 1, 8, 8);
        ComputationGraph original = graph();
        INDArray before = original.params().dup();
        TrainResult one = Lockstep.on(spark).model(original).options(options("df1", 1, 32)).fit(train, test, columns);
        TrainResult two = Lockstep.on(spark).model(original).options(options("df2", 2, 16)).fit(train, test, columns);

        double difference = maxDifference(one.graph().params(), two.graph().params());
        double move = maxDifference(before, two.graph().params());
        assertTrue(move > 1e-3, "training changed the parameters");
        assertTrue(difference < BATCH_NORM_TOLERANCE * move, "2 replicas x 16 vs 1 replica x 32: max |difference| "
                + difference + " after a maximal move of " + move);
        assertEquals(2, two.history().size());
        assertFalse(Double.isNaN(two.testAccuracy()), "the test DataFrame was evaluated after every epoch");

        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> Lockstep.on(spark)
                .model(original).options(options("df3", 2, 16)).fit(train, ImageColumns.of("picture", "label", 1, 8, 8)));
        assertTrue(missing.getMessage().contains("no column 'picture'"), missing.getMessage());
        Dataset<Row> encodedTest = spark.createDataFrame(List.of(RowFactory.create(new byte[]{1, 2, 3}, 0.0)),
                new StructType().add("image", DataTypes.BinaryType).add("label", DataTypes.DoubleType));
        IllegalArgumentException mixed = assertThrows(IllegalArgumentException.class, () -> Lockstep.on(spark)
                .model(original).options(options("df4", 2, 16)).fit(train, encodedTest, columns));
        assertTrue(mixed.getMessage().contains("encoded image bytes in the test DataFrame"), mixed.getMessage());
        assertEquals(14, sc.parallelize(List.of(1, 2, 3, 4)).map(x -> x + 1).reduce(Integer::sum), "the context is still usable");
    }

    @Test
    void ownMultiLayerNetworkTwoReplicasEqualOneWithTheDoubledBatch() {
        MultiLayerNetwork original = multiLayer();
        TrainResult one = Lockstep.on(sc).model(original).options(options("mln1", 1, 32)).fit(images(true));
        TrainResult two = Lockstep.on(sc).model(original).options(options("mln2", 2, 16)).fit(images(true));

        MultiLayerNetwork trained = two.multiLayerNetwork();
        double difference = maxDifference(one.multiLayerNetwork().params(), trained.params());
        assertTrue(difference < TOLERANCE, "2 replicas x 16 vs 1 replica x 32: max |difference| " + difference);
        INDArray input = images(true).first().getFeatures();
        assertEquals(two.graph().outputSingle(input), trained.output(input), "the MultiLayerNetwork holds the trained parameters");
        assertTrue(!sc.sc().isStopped(), "the context is still running");
    }

    @Test
    void anOutputLayerThatDoesNotMatchTheLabelsIsRefusedBeforeTraining() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().list()
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(64).nOut(5)
                        .activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork wrong = new MultiLayerNetwork(conf);
        wrong.init();
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> Lockstep.on(sc).model(wrong).options(options("wrong", 2, 8)).fit(images(true)));
        assertTrue(error.getMessage().contains("5 units but the data has 3 label columns"), error.getMessage());
    }

    @Test
    void aZooModelTrainsOnADatasetUri() {
        Path subset = Path.of("..", "data", "fashion-mnist-small").toAbsolutePath().normalize();
        TrainResult result = Lockstep.on(sc).model("lenet5")
                .options(TrainOptions.defaults().with(TrainOptions.EPOCHS, 1).with(TrainOptions.MAX_STEPS_PER_EPOCH, 2)
                        .with(TrainOptions.OUT, dir.resolve("zoo").toString()))
                .fit(subset.toString());
        assertEquals(1, result.history().size());
        assertTrue(result.testAccuracy() >= 0 && result.testAccuracy() <= 1, "evaluated on the test split: " + result.testAccuracy());
        assertTrue(java.nio.file.Files.exists(dir.resolve("zoo").resolve("model.zip")));
    }

    @Test
    void invalidOptionsAreAllReportedBeforeTraining() {
        InvalidOptionsException error = assertThrows(InvalidOptionsException.class, () -> Lockstep.on(sc).model(graph())
                .options(TrainOptions.defaults().with(TrainOptions.REPLICAS, 0).with(TrainOptions.EPOCHS, -1))
                .fit(images(false)));
        assertEquals(2, error.problems().size(), error.getMessage());
    }

    /** A user's DL4J listener: runs on an executor, so it is Serializable. */
    private static final class CountingListener extends BaseTrainingListener implements Serializable {
        @Override
        public void iterationDone(org.deeplearning4j.nn.api.Model model, int iteration, int epoch) {
            LISTENER_CALLS.incrementAndGet();
        }
    }
}
