package io.lockstep.worker.nn;

import io.lockstep.models.ActivationLayout;
import io.lockstep.models.InputShape;
import io.lockstep.models.RandomBatches;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.models.TrainingBatches;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * With Lockstep's BatchNorm layer in place of DL4J's (what {@code train --norm batch} and
 * {@code bench step} run), an NHWC residual network trains like its NCHW build: same loss and, after
 * three steps, the same parameters (running statistics included) to float tolerance. Lockstep's
 * kernels walk NHWC activations one row of channels at a time and NCHW ones one plane at a time, so
 * the sums differ only in rounding. resnet18 runs at 3x16x16, where its last stage has 2x2 maps: at
 * 3x8x8 the last BatchNorms normalize 4 values per channel and amplify rounding differences within
 * a few steps. The graphs are swapped from DL4J's BatchNorm by cloning their configuration, which
 * also checks that an NHWC configuration survives a clone (the option-A shortcut's channel concat).
 */
class NhwcBatchNormTrainingTest {
    private static final int BATCH = 4;
    private static final int CLASSES = 10;

    @ParameterizedTest(name = "{0} at {1}")
    @CsvSource({"resnet20, 1x12x12", "resnet18, 3x16x16"})
    void nhwcTrainsLikeNchw(String model, String input) {
        ModelOptions options = ModelOptions.of(CLASSES, InputShape.parse(input));
        ComputationGraph nchw = BatchNormSwap.toSync(ModelRegistry.build(model, options), false);
        ComputationGraph nhwc = BatchNormSwap.toSync(ModelRegistry.build(model, options.withLayout(ActivationLayout.NHWC)), false);
        assertEquals(BatchNormSwap.countSync(nchw.getConfiguration()), BatchNormSwap.countSync(nhwc.getConfiguration()));
        assertTrue(BatchNormSwap.countSync(nhwc.getConfiguration()) > 0);
        assertArrayEquals(nchw.params().toFloatVector(), nhwc.params().toFloatVector(), 0f);

        for (int step = 0; step < 3; step++) {
            DataSet batch = batch(options.input(), 11 + step);
            TrainingBatches.fit(nchw, batch);
            TrainingBatches.fit(nhwc, batch);
            assertEquals(nchw.score(), nhwc.score(), 1e-5 * Math.abs(nchw.score()), "loss of step " + step);
        }
        INDArray expected = nchw.params();
        double diff = expected.sub(nhwc.params()).amaxNumber().doubleValue();
        double scale = expected.amaxNumber().doubleValue();
        assertTrue(diff <= 1e-5 * scale, "parameters after 3 steps differ by " + diff + " (largest " + scale + ")");
    }

    private static DataSet batch(InputShape shape, long seed) {
        return RandomBatches.of(shape, BATCH, CLASSES, seed);
    }
}
