package io.lockstep.models;

import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.learning.regularization.WeightDecay;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Weight decay reaches weights only: two identical networks take the same SGD step, one with decay;
 * their weights must differ by exactly {@code -lr * decay * w}, and biases and BatchNorm gamma/beta
 * not at all.
 */
class WeightDecayTest {
    private static final double LEARNING_RATE = 0.1;
    private static final double DECAY = 0.05;

    @AfterEach
    void releaseWorkspaces() {
        Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
    }

    @Test
    void decaysWeightsButNotBiasesOrBatchNorm() {
        InputShape input = new InputShape(1, 8, 8);
        ModelOptions plain = ModelOptions.of(10, input).withUpdater(new Sgd(LEARNING_RATE), 0.0);
        ComputationGraph reference = ModelRegistry.build("resnet20", plain);
        ComputationGraph decayed = ModelRegistry.build("resnet20", plain.withUpdater(new Sgd(LEARNING_RATE), DECAY));
        try {
            // Biases and beta start at 0, where decay would be invisible: give both networks non-zero ones.
            for (ComputationGraph g : new ComputationGraph[]{reference, decayed}) {
                g.getLayer(Architecture.OUTPUT).getParam("b").assign(0.5);
                g.getLayer("layer2_0_bn1").getParam("beta").assign(0.5);
            }
            INDArray convBefore = decayed.getLayer("layer2_0_conv1").getParam("W").dup();
            INDArray outputBefore = decayed.getLayer(Architecture.OUTPUT).getParam("W").dup();
            assertEquals(reference.params(), decayed.params(), "same seed must give the same initial parameters");

            DataSet batch = batch(input);
            reference.fit(batch);
            decayed.fit(batch);

            assertDecayed(convBefore, reference, decayed, "layer2_0_conv1");
            assertDecayed(outputBefore, reference, decayed, Architecture.OUTPUT);
            assertUndecayed(reference, decayed, Architecture.OUTPUT, "b");
            assertUndecayed(reference, decayed, "layer2_0_bn1", "gamma");
            assertUndecayed(reference, decayed, "layer2_0_bn1", "beta");
        } finally {
            reference.close();
            decayed.close();
        }
    }

    @Test
    void weightsCarryExactlyOneDecayBiasesAndBatchNormNone() {
        ModelOptions options = ModelOptions.of(10, new InputShape(3, 32, 32)).withUpdater(new Sgd(LEARNING_RATE), DECAY);
        for (String model : List.of("resnet20", "vgg11_bn", "lenet5")) {
            ComputationGraphConfiguration conf = ModelRegistry.get(model).configuration(options);
            int decayedWeights = 0;
            for (GraphVertex vertex : conf.getVertices().values()) {
                if (!(vertex instanceof LayerVertex lv)) {
                    continue;
                }
                Layer layer = lv.getLayerConf().getLayer();
                ParamInitializer params = layer.initializer();
                for (String key : params.paramKeys(layer)) {
                    List<Regularization> regularization = layer.getRegularizationByParam(key);
                    int count = regularization == null ? 0 : regularization.size();
                    if (params.isWeightParam(layer, key) && !(layer instanceof BatchNormalization)) {
                        assertEquals(1, count, model + " " + layer.getLayerName() + "_" + key + ": " + regularization);
                        assertInstanceOf(WeightDecay.class, regularization.get(0));
                        decayedWeights++;
                    } else {
                        assertEquals(0, count, model + " " + layer.getLayerName() + "_" + key + ": " + regularization);
                    }
                }
            }
            assertTrue(decayedWeights >= 4, model + ": only " + decayedWeights + " decayed weights");
        }
    }

    private static void assertDecayed(INDArray before, ComputationGraph reference, ComputationGraph decayed, String layer) {
        INDArray difference = decayed.getLayer(layer).getParam("W").sub(reference.getLayer(layer).getParam("W"));
        INDArray expected = before.mul(-LEARNING_RATE * DECAY);
        double error = difference.sub(expected).amaxNumber().doubleValue();
        assertTrue(expected.amaxNumber().doubleValue() > 1e-4, layer + ": decay too small to observe");
        assertTrue(error < 1e-6, layer + ": weight difference deviates from -lr*decay*w by " + error);
    }

    private static void assertUndecayed(ComputationGraph reference, ComputationGraph decayed, String layer, String key) {
        INDArray a = reference.getLayer(layer).getParam(key);
        INDArray b = decayed.getLayer(layer).getParam(key);
        assertEquals(0.0, a.sub(b).amaxNumber().doubleValue(), 1e-7, layer + "_" + key + " must not be decayed");
    }

    private static DataSet batch(InputShape input) {
        INDArray features = Nd4j.linspace(0, 1, 2 * input.pixels()).reshape(2, input.channels(), input.height(), input.width());
        INDArray labels = Nd4j.zeros(2, 10);
        labels.putScalar(0, 3, 1.0);
        labels.putScalar(1, 7, 1.0);
        return new DataSet(features.castTo(DataType.FLOAT), labels.castTo(DataType.FLOAT));
    }
}
