package io.lockstep.models;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * Inception-v3's training loss is main + 0.4 x auxiliary cross-entropy, in the score and in the
 * gradient, and inference is output 0 alone. Built at its smallest input (1x15x15) with 3 classes.
 */
class AuxiliaryLossTest {
    private static final int BATCH = 3;
    private static final int CLASSES = 3;

    @AfterEach
    void releaseWorkspaces() {
        Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
    }

    @Test
    void scoreAndGradientWeighTheAuxiliaryCrossEntropyByZeroPointFour() {
        ComputationGraph graph = ModelRegistry.build("inception_v3", ModelOptions.of(CLASSES, new InputShape(1, 15, 15)));
        try {
            Nd4j.getRandom().setSeed(5);
            INDArray features = Nd4j.rand(DataType.FLOAT, BATCH, 1, 15, 15);
            INDArray labels = Nd4j.zeros(DataType.FLOAT, BATCH, CLASSES);
            for (int i = 0; i < BATCH; i++) {
                labels.putScalar(i, (i + 1) % CLASSES, 1f);
            }
            MultiDataSet batch = TrainingBatches.forAllOutputs(graph, new DataSet(features, labels));
            assertEquals(2, batch.getLabels().length);

            // Score, inference mode (no dropout, running statistics): mean CE(main) + 0.4 mean CE(aux).
            INDArray[] inference = graph.output(false, features);
            double expectedScore = crossEntropy(inference[0], labels) + 0.4 * crossEntropy(inference[1], labels);
            assertEquals(expectedScore, graph.score(batch, false), 1e-4 * expectedScore);

            // Gradient, training mode: the aux classifier's bias gradient is 0.4 * sum over the batch of (p - y).
            // The aux head has no dropout, so a training forward gives the probabilities backprop sees.
            INDArray auxTrain = graph.feedForward(features, true).get(InceptionV3.AUX_OUTPUT);
            graph.setInputs(features);
            graph.setLabels(labels, labels);
            graph.computeGradientAndScore();
            INDArray biasGradient = graph.gradient().getGradientFor(InceptionV3.AUX_OUTPUT + "_b");
            INDArray expected = auxTrain.sub(labels).sum(0).muli(0.4);
            assertArrayEquals(expected.toFloatVector(), biasGradient.reshape(CLASSES).toFloatVector(), 1e-5f);
        } finally {
            graph.close();
        }
    }

    @Test
    void inferenceReadsTheMainOutputAndTrainingMovesBothHeads() {
        ComputationGraph graph = ModelRegistry.build("inception_v3", ModelOptions.of(CLASSES, new InputShape(1, 15, 15)));
        try {
            Nd4j.getRandom().setSeed(6);
            INDArray features = Nd4j.rand(DataType.FLOAT, BATCH, 1, 15, 15);
            INDArray labels = Nd4j.eye(CLASSES).castTo(DataType.FLOAT);
            INDArray auxBefore = graph.getParam(InceptionV3.AUX_OUTPUT + "_W").dup();
            INDArray mainBefore = graph.getParam(Architecture.OUTPUT + "_W").dup();
            TrainingBatches.fit(graph, new DataSet(features, labels));
            assertNotEquals(auxBefore, graph.getParam(InceptionV3.AUX_OUTPUT + "_W"));
            assertNotEquals(mainBefore, graph.getParam(Architecture.OUTPUT + "_W"));
            INDArray[] outputs = graph.output(false, features);
            assertArrayEquals(new long[]{BATCH, CLASSES}, outputs[0].shape());
            assertEquals(graph.getConfiguration().getNetworkOutputs().get(0), Architecture.OUTPUT);
        } finally {
            graph.close();
        }
    }

    /** Mean over the batch of -log p[label]. */
    private static double crossEntropy(INDArray probabilities, INDArray oneHot) {
        return -Transforms.log(probabilities.castTo(DataType.DOUBLE), true).mul(oneHot.castTo(DataType.DOUBLE))
                .sumNumber().doubleValue() / probabilities.size(0);
    }
}
