package io.lockstep.models;

import io.lockstep.models.layers.NhwcConvolutionLayer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An NHWC build of a residual network is the NCHW build with only the activation layout changed:
 * the same parameters in the same order from the same seed, and — with DL4J's OneDNN helpers on, as
 * the surefire configuration runs them — the same predictions, loss, gradients and parameters after
 * a training step, to float tolerance (the two layouts sum in different orders inside OneDNN).
 * Inputs are tiny so that every stage is reached in milliseconds; 3x64x64 takes ResNet's max-pool stem.
 */
class ActivationLayoutTest {
    private static final int BATCH = 4;
    private static final int CLASSES = 10;

    @ParameterizedTest(name = "{0} at {1}")
    @CsvSource({"resnet20, 1x12x12", "resnet20, 3x8x8", "resnet18, 3x8x8", "resnet18, 3x64x64", "resnet50, 3x8x8"})
    void nhwcBuildComputesWhatTheNchwBuildComputes(String model, String input) {
        ModelOptions options = ModelOptions.of(CLASSES, InputShape.parse(input));
        ComputationGraph nchw = ModelRegistry.build(model, options);
        ComputationGraph nhwc = ModelRegistry.build(model, options.withLayout(ActivationLayout.NHWC));

        assertLayout(nchw, CNN2DFormat.NCHW);
        assertLayout(nhwc, CNN2DFormat.NHWC);
        assertArrayEquals(nchw.params().toFloatVector(), nhwc.params().toFloatVector(), 0f,
                "same parameters in the same order from the same seed");

        DataSet batch = batch(options.input(), 7);
        assertClose("inference output", nchw.outputSingle(false, batch.getFeatures()),
                nhwc.outputSingle(false, batch.getFeatures()), 1e-5);

        nchw.setInputs(batch.getFeatures());
        nchw.setLabels(batch.getLabels());
        nchw.computeGradientAndScore();
        nhwc.setInputs(batch.getFeatures());
        nhwc.setLabels(batch.getLabels());
        nhwc.computeGradientAndScore();
        assertEquals(nchw.score(), nhwc.score(), 1e-5 * Math.abs(nchw.score()), "training loss");
        assertClose("gradient", nchw.gradient().gradient(), nhwc.gradient().gradient(), 1e-4);

        TrainingBatches.fit(nchw, batch);
        TrainingBatches.fit(nhwc, batch);
        assertClose("parameters after a step", nchw.params(), nhwc.params(), 1e-5);
    }

    @Test
    void nhwcConfigurationSurvivesJson() {
        ModelOptions options = ModelOptions.of(CLASSES, InputShape.parse("3x8x8")).withLayout(ActivationLayout.NHWC);
        ComputationGraphConfiguration conf = ModelRegistry.get("resnet20").configuration(options);
        ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(conf.toJson());
        assertEquals(conf, back);
        ComputationGraph original = ModelRegistry.build("resnet20", options);
        ComputationGraph restored = new ComputationGraph(back);
        restored.init(original.params().dup(), false);
        INDArray features = batch(options.input(), 3).getFeatures();
        assertArrayEquals(original.outputSingle(false, features).ravel().toFloatVector(),
                restored.outputSingle(false, features).ravel().toFloatVector(), 0f);
        // DL4J's MergeVertex.clone() forgets its axis; the option-A shortcut's concat must not.
        ComputationGraph cloned = new ComputationGraph(conf.clone());
        cloned.init(original.params().dup(), false);
        assertArrayEquals(original.outputSingle(false, features).ravel().toFloatVector(),
                cloned.outputSingle(false, features).ravel().toFloatVector(), 0f);
    }

    /** The exported form of an NHWC network: the NCHW build's configuration, with the same weights. */
    @ParameterizedTest(name = "{0} at {1}")
    @CsvSource({"resnet20, 1x12x12", "resnet18, 3x64x64", "resnet50, 3x8x8"})
    void nhwcNetworkConvertsToTheNchwBuild(String model, String input) {
        ModelOptions options = ModelOptions.of(CLASSES, InputShape.parse(input));
        ComputationGraphConfiguration nchwConf = ModelRegistry.build(model, options).getConfiguration();
        ComputationGraph nhwc = ModelRegistry.build(model, options.withLayout(ActivationLayout.NHWC));
        assertTrue(ActivationLayouts.isNhwc(nhwc.getConfiguration()));
        assertFalse(ActivationLayouts.isNhwc(nchwConf));

        ComputationGraph converted = ActivationLayouts.toNchw(nhwc);
        assertEquals(nchwConf.toJson(), converted.getConfiguration().toJson(), "the NCHW build's configuration");
        assertFalse(converted.getConfiguration().toJson().contains("Nhwc"), "no NHWC layer or input conversion left");
        assertSame(converted, ActivationLayouts.toNchw(converted), "an NCHW network is left as it is");
        assertArrayEquals(nhwc.params().toFloatVector(), converted.params().toFloatVector(), 0f);
        INDArray features = batch(options.input(), 5).getFeatures();
        assertClose("inference output", nhwc.outputSingle(false, features), converted.outputSingle(false, features), 1e-5);
    }

    @Test
    void nhwcIsRefusedWhereItIsNotImplemented() {
        ModelOptions nhwc = ModelOptions.of(CLASSES, InputShape.parse("1x28x28")).withLayout(ActivationLayout.NHWC);
        IllegalArgumentException vgg = assertThrows(IllegalArgumentException.class,
                () -> ModelRegistry.get("vgg11").configuration(nhwc));
        assertTrue(vgg.getMessage().contains("use layout nchw"), vgg.getMessage());
        IllegalArgumentException group = assertThrows(IllegalArgumentException.class,
                () -> ModelRegistry.get("resnet20").configuration(nhwc.withNormalization(Normalization.GROUP)));
        assertTrue(group.getMessage().contains("not group"), group.getMessage());
        assertEquals(ActivationLayout.NHWC, ActivationLayout.parse(" NHWC "));
        assertThrows(IllegalArgumentException.class, () -> ActivationLayout.parse("chwn"));
    }

    private static void assertLayout(ComputationGraph graph, CNN2DFormat expected) {
        int convolutions = 0;
        for (GraphVertex vertex : graph.getVertices()) {
            if (!vertex.hasLayer()) {
                continue;
            }
            Object conf = vertex.getLayer().conf().getLayer();
            if (conf instanceof ConvolutionLayer c) {
                assertEquals(expected, c.getCnn2dDataFormat(), vertex.getVertexName());
                if (expected == CNN2DFormat.NHWC) {
                    // The layer that hands the helper its NHWC input without DL4J's unused NCHW copy, and a helper to hand it to.
                    assertTrue(vertex.getLayer() instanceof NhwcConvolutionLayer, vertex.getVertexName());
                    assertNotNull(vertex.getLayer().getHelper(), vertex.getVertexName());
                }
                convolutions++;
            } else if (conf instanceof BatchNormalization b) {
                assertEquals(expected, b.getCnn2DFormat(), vertex.getVertexName());
            }
        }
        assertTrue(convolutions > 0);
    }

    private static DataSet batch(InputShape shape, long seed) {
        Nd4j.getRandom().setSeed(seed);
        INDArray features = Nd4j.rand(DataType.FLOAT, BATCH, shape.channels(), shape.height(), shape.width());
        INDArray labels = Nd4j.zeros(DataType.FLOAT, BATCH, CLASSES);
        for (int i = 0; i < BATCH; i++) {
            labels.putScalar(i, (i * 3) % CLASSES, 1f);
        }
        return new DataSet(features, labels);
    }

    /** Largest element difference relative to the largest magnitude of the expected array. */
    private static void assertClose(String what, INDArray expected, INDArray actual, double tolerance) {
        assertArrayEquals(expected.shape(), actual.shape(), what + " shape");
        double scale = Math.max(expected.amaxNumber().doubleValue(), 1e-30);
        double diff = expected.sub(actual).amaxNumber().doubleValue();
        assertTrue(diff <= tolerance * scale, what + ": max difference " + diff + " relative to " + scale
                + " exceeds " + tolerance);
    }
}
