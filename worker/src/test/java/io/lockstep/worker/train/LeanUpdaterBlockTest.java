package io.lockstep.worker.train;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The lean updater blocks train exactly what DL4J's own blocks train, with regularization both before the
 * optimizer (L1, L2) and after it (weight decay), and cut their views once for a whole run.
 */
class LeanUpdaterBlockTest {
    private static final int STEPS = 4;

    @Test
    void trainsWhatDl4jsBlocksTrainAndCutsItsViewsOnce() {
        List<DataSet> batches = SyntheticBatches.global(9L, STEPS, 8, 2, 6, 3);

        ComputationGraph dl4j = graph();
        for (DataSet batch : batches) {
            dl4j.fit(batch);
        }

        ComputationGraph lean = graph();
        LeanUpdaterBlock.install(lean);
        List<UpdaterBlock> blocks = lean.getUpdater().getUpdaterBlocks();
        assertTrue(blocks.size() > 1, "the biases without regularization make blocks of their own: " + blocks.size());
        for (DataSet batch : batches) {
            lean.fit(batch);
        }

        assertFalse(java.util.Arrays.equals(graph().params().toFloatVector(), lean.params().toFloatVector()),
                "training moved the parameters");
        assertArrayEquals(dl4j.params().toFloatVector(), lean.params().toFloatVector(), "DL4J's parameters, to the bit");
        assertArrayEquals(dl4j.getUpdater().getStateViewArray().toFloatVector(),
                lean.getUpdater().getStateViewArray().toFloatVector(), "DL4J's momentum, to the bit");
        for (UpdaterBlock block : lean.getUpdater().getUpdaterBlocks()) {
            LeanUpdaterBlock leanBlock = (LeanUpdaterBlock) block;
            assertEquals(1, leanBlock.cuts(), "views cut once in " + STEPS + " steps, block at "
                    + block.getParamOffsetStart());
        }
    }

    /** Weights with L1 and L2 (applied before the optimizer) and weight decay (after it); biases without. */
    private static ComputationGraph graph() {
        ComputationGraph graph = new ComputationGraph(new NeuralNetConfiguration.Builder().seed(4)
                .updater(new Nesterovs(0.1, 0.9)).l1(1e-3).l2(1e-3).weightDecay(5e-3)
                .graphBuilder().addInputs("in").setInputTypes(InputType.convolutional(6, 6, 2))
                .addLayer("conv", new ConvolutionLayer.Builder(3, 3).nOut(4).activation(Activation.RELU).build(), "in")
                .addLayer("bn", new BatchNormalization.Builder().build(), "conv")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3)
                        .activation(Activation.SOFTMAX).build(), "bn")
                .setOutputs("out").build());
        graph.init();
        return graph;
    }
}
