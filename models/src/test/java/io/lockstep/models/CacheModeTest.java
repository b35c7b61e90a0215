package io.lockstep.models;

import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.dataset.DataSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * DL4J's cache mode changes where a convolution's backward pass takes the layer's forward output
 * from — kept from the forward pass ({@link CacheMode#DEVICE}) instead of computed again
 * ({@link CacheMode#NONE}, DL4J's default) — and nothing else: training with it gives bit-identical
 * losses and parameters, in both activation layouts, with and without normalization (where the ReLU
 * is fused into the convolution and its derivative reads that output).
 */
class CacheModeTest {
    private static final int BATCH = 4;
    private static final int CLASSES = 10;

    @ParameterizedTest
    @EnumSource(ActivationLayout.class)
    void cachingTheForwardOutputChangesNoResult(ActivationLayout layout) {
        for (Normalization norm : new Normalization[] {Normalization.BATCH, Normalization.NONE}) {
            ModelOptions options = ModelOptions.of(CLASSES, InputShape.parse("1x12x12")).withLayout(layout)
                    .withNormalization(norm);
            ComputationGraph recomputed = ModelRegistry.build("resnet20", options);
            ComputationGraph cached = ModelRegistry.build("resnet20", options);
            cached.getConfiguration().setCacheMode(CacheMode.DEVICE);
            cached.setCacheMode(CacheMode.DEVICE);
            for (int step = 0; step < 2; step++) {
                DataSet batch = batch(options.input(), 5 + step);
                TrainingBatches.fit(recomputed, batch);
                TrainingBatches.fit(cached, batch);
                assertEquals(recomputed.score(), cached.score(), 0.0, norm + " loss of step " + step);
            }
            assertArrayEquals(recomputed.params().toFloatVector(), cached.params().toFloatVector(), 0f, norm.cliName());
        }
    }

    private static DataSet batch(InputShape shape, long seed) {
        return RandomBatches.of(shape, BATCH, CLASSES, seed);
    }
}
