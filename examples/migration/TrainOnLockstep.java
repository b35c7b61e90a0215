package example;

import io.lockstep.api.EpochResult;
import io.lockstep.api.Lockstep;
import io.lockstep.api.ProgressListener;
import io.lockstep.api.TrainOptions;
import io.lockstep.api.TrainResult;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.listeners.ScoreIterationListener;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A DL4J Spark training program moved to Lockstep (see docs/migrating-from-dl4j-spark.md): the same
 * network, the same {@code JavaRDD<DataSet>}, the same SparkContext — only the training call changes.
 *
 * <p>Arguments: {@code [master] [output directory]}, default {@code local[2]} and {@code lockstep-example}.
 */
public final class TrainOnLockstep {
    public static void main(String[] args) {
        String master = args.length > 0 ? args[0] : "local[2]";
        String out = args.length > 1 ? args[1] : "lockstep-example";
        SparkConf conf = new SparkConf().setAppName("lockstep example").setMaster(master)
                .setIfMissing("spark.ui.enabled", "false");
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            // Your data, as for DL4J Spark: an RDD of DataSets (here a small synthetic 3-class problem).
            JavaRDD<DataSet> train = sc.parallelize(batches(1, 40), 4);
            JavaRDD<DataSet> test = sc.parallelize(batches(2, 10), 2);

            // Your network, unchanged.
            MultiLayerConfiguration networkConf = new NeuralNetConfiguration.Builder().seed(42)
                    .updater(new Nesterovs(0.05, 0.9)).list()
                    .layer(new DenseLayer.Builder().nIn(20).nOut(32).activation(Activation.RELU).build())
                    .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(32).nOut(3)
                            .activation(Activation.SOFTMAX).build())
                    .build();
            MultiLayerNetwork network = new MultiLayerNetwork(networkConf);
            network.init();
            network.setListeners(new ScoreIterationListener(10)); // runs on replica 0, on its executor

            // DL4J:     new SparkDl4jMultiLayer(sc, network, trainingMaster).fit(train)
            // Lockstep:
            TrainResult result = Lockstep.on(sc)
                    .model(network)
                    .options(TrainOptions.defaults()
                            .with(TrainOptions.REPLICAS, 2)       // one Spark task per replica
                            .with(TrainOptions.BATCH_SIZE, 16)    // per replica, as batchSizePerWorker
                            .with(TrainOptions.EPOCHS, 3)
                            .with(TrainOptions.OUT, out))
                    .listener(new ProgressListener() {
                        @Override
                        public void epochFinished(EpochResult epoch) {
                            System.out.printf("epoch %d: loss %.4f, test accuracy %.4f%n", epoch.epoch() + 1,
                                    epoch.meanLoss(), epoch.testAccuracy());
                        }
                    })
                    .fit(train, test);

            MultiLayerNetwork trained = result.multiLayerNetwork();
            Evaluation evaluation = new Evaluation(3);
            for (DataSet batch : test.collect()) {
                evaluation.eval(batch.getLabels(), trained.output(batch.getFeatures()));
            }
            System.out.printf("accuracy %.4f; model in %s, checkpoints in %s%n", evaluation.accuracy(),
                    result.modelFile(), result.checkpointDir());
        }
    }

    /** {@code count} batches of 16 examples: 20 features, the class shifts a third of them. */
    private static List<DataSet> batches(long seed, int count) {
        Random random = new Random(seed);
        List<DataSet> batches = new ArrayList<>();
        for (int b = 0; b < count; b++) {
            INDArray features = Nd4j.zeros(16, 20);
            INDArray labels = Nd4j.zeros(16, 3);
            for (int i = 0; i < 16; i++) {
                int label = random.nextInt(3);
                labels.putScalar(i, label, 1);
                for (int f = 0; f < 20; f++) {
                    features.putScalar(i, f, random.nextGaussian() + (f % 3 == label ? 1.5 : 0));
                }
            }
            batches.add(new DataSet(features, labels));
        }
        return batches;
    }
}
