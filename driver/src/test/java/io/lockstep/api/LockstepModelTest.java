package io.lockstep.api;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Predictions and evaluation on the executors equal the network's own output in this JVM. */
class LockstepModelTest {

    @Test
    void executorsPredictWhatTheNetworkOutputsHereAndEvaluateTheSame(@TempDir Path dir) throws Exception {
        MultiLayerNetwork network = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(9).list()
                .layer(new DenseLayer.Builder().nIn(6).nOut(10).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(10).nOut(4)
                        .activation(Activation.SOFTMAX).build())
                .build());
        network.init();
        Nd4j.getRandom().setSeed(5);
        List<DataSet> batches = new ArrayList<>();
        for (int b = 0; b < 7; b++) {
            INDArray labels = Nd4j.zeros(9, 4);
            for (int i = 0; i < 9; i++) {
                labels.putScalar(i, (b + i) % 4, 1);
            }
            batches.add(new DataSet(Nd4j.rand(9, 6), labels));
        }
        try (JavaSparkContext sc = new JavaSparkContext(new SparkConf().setMaster("local[2]").setAppName("predict-test")
                .set("spark.ui.enabled", "false"))) {
            JavaRDD<DataSet> data = sc.parallelize(batches, 3);
            Path file = dir.resolve("net.zip");
            ModelSerializer.writeModel(network.toComputationGraph(), file.toFile(), false);
            try (LockstepModel model = LockstepModel.load(sc, file.toUri().toString()).batchSize(4)) {
                List<Prediction> predictions = model.predict(data).collect();
                assertEquals(63, predictions.size());
                long[][] confusion = new long[4][4];
                int k = 0;
                for (DataSet batch : batches) {
                    INDArray expected = network.output(batch.getFeatures());
                    for (int i = 0; i < batch.numExamples(); i++, k++) {
                        assertArrayEquals(expected.getRow(i).toFloatVector(), predictions.get(k).probabilities(), 1e-6f);
                        assertEquals(expected.getRow(i).argMax().getInt(0), predictions.get(k).predictedClass());
                        confusion[batch.getLabels().getRow(i).argMax().getInt(0)][predictions.get(k).predictedClass()]++;
                    }
                }
                assertArrayEquals(confusion, model.evaluate(data).confusion(), "distributed evaluation equals the local count");
            }
            Path notAModel = Files.writeString(dir.resolve("notes.txt"), "not a model");
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                    () -> LockstepModel.load(sc, notAModel.toUri().toString()));
            assertTrue(error.getMessage().contains("notes.txt"), error.getMessage());
        }
    }
}
