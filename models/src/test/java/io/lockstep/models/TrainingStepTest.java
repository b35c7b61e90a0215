package io.lockstep.models;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The models of the zoo build, initialize, predict and take one training step on small inputs (batch
 * of 2, 10 classes), both Fashion-MNIST-sized 1x28x28 and CIFAR-sized 3x32x32, whose small-input
 * adaptations differ (VGG keeps four or five pools, AlexNet one or two).
 *
 * <p>By default one model of each builder path: the deeper members of a family (resnet32…110 next to
 * resnet20, vgg13…19 next to vgg11 and vgg11_bn, resnet34/101/152 next to resnet18 and resnet50,
 * densenet161/169/201 next to densenet121, densenet_bc100 next to densenet_bc40) come from the same
 * builder with other block counts or widths, which ArchitectureTest and ParameterCountTest check for
 * every model, and their steps take most of this class's time. {@code -Dlockstep.models.everyModel=true}
 * trains every model:
 *
 * <pre>mvn -B -pl models test -Dtest=TrainingStepTest -Dlockstep.models.everyModel=true</pre>
 */
class TrainingStepTest {
    private static final int BATCH = 2;
    private static final int CLASSES = 10;

    /**
     * The ImageNet Vision Transformers are built from exactly the layers of vit_small, only wider and
     * deeper (their configurations and counts are checked in ArchitectureTest and ParameterCountTest,
     * vit_b_16's forward pass against PyTorch in VisionTransformerLogitsTest); a training step of
     * vit_b_16 takes over a minute on two cores and vit_h_14's needs several GB.
     */
    private static final java.util.Set<String> SAME_LAYERS_AS_VIT_SMALL =
            java.util.Set.of("vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14");

    /** One model per builder path: every block type, stem, normalization and head of the zoo. */
    private static final java.util.Set<String> ONE_PER_BUILDER_PATH = java.util.Set.of(
            "lenet5", "simplecnn", "resnet20", "alexnet", "vgg11", "vgg11_bn", "resnet18", "resnet50", "googlenet",
            "inception_v3", "densenet121", "densenet_bc40", "vit_small");

    static Stream<String> models() {
        if (!ModelRegistry.names().containsAll(ONE_PER_BUILDER_PATH)) {
            throw new IllegalStateException("not in the zoo: " + ONE_PER_BUILDER_PATH.stream()
                    .filter(name -> !ModelRegistry.names().contains(name)).toList());
        }
        boolean everyModel = Boolean.getBoolean("lockstep.models.everyModel");
        return ModelRegistry.names().stream().filter(name -> !SAME_LAYERS_AS_VIT_SMALL.contains(name))
                .filter(name -> everyModel || ONE_PER_BUILDER_PATH.contains(name));
    }

    @AfterEach
    void releaseWorkspaces() {
        Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void trainsOneStepOnFashionMnistSizedImages(String model) {
        trainOneStep(model, new InputShape(1, 28, 28));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void trainsOneStepOnCifarSizedImages(String model) {
        trainOneStep(model, new InputShape(3, 32, 32));
    }

    @ParameterizedTest(name = "{0} with {1}")
    @CsvSource({
            "resnet20,      group,    1x28x28",
            "densenet_bc40, layer,    1x28x28",
            "googlenet,     instance, 3x32x32",
            "inception_v3,  group,    1x15x15"})
    void trainsOneStepWithPerExampleNormalization(String model, String normalization, String input) {
        trainOneStep(model, InputShape.parse(input), Normalization.parse(normalization));
    }

    private static void trainOneStep(String model, InputShape input) {
        trainOneStep(model, input, Normalization.BATCH);
    }

    private static void trainOneStep(String model, InputShape input, Normalization normalization) {
        ComputationGraph graph = ModelRegistry.build(model, ModelOptions.of(CLASSES, input).withNormalization(normalization));
        try {
            DataSet batch = randomBatch(input, 7);
            INDArray probabilities = graph.output(false, batch.getFeatures())[0];
            assertArrayEquals(new long[]{BATCH, CLASSES}, probabilities.shape());
            INDArray rowSums = probabilities.sum(1);
            for (int i = 0; i < BATCH; i++) {
                assertEquals(1.0, rowSums.getDouble(i), 1e-4, "softmax row " + i + " of " + model);
            }

            INDArray before = graph.params().dup();
            TrainingBatches.fit(graph, batch);
            double loss = graph.score();
            assertTrue(Double.isFinite(loss) && loss > 0, model + " loss after one step: " + loss);
            assertNotEquals(before, graph.params(), model + ": one fit step left every parameter unchanged");
            assertTrue(Double.isFinite(graph.params().sumNumber().doubleValue()), model + ": parameters not finite");
        } finally {
            graph.close();
        }
    }

    private static DataSet randomBatch(InputShape input, long seed) {
        Random random = new Random(seed);
        float[] pixels = new float[(int) (BATCH * input.pixels())];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = random.nextFloat();
        }
        INDArray features = Nd4j.create(pixels, new long[]{BATCH, input.channels(), input.height(), input.width()}, 'c');
        float[] oneHot = new float[BATCH * CLASSES];
        for (int i = 0; i < BATCH; i++) {
            oneHot[i * CLASSES + random.nextInt(CLASSES)] = 1f;
        }
        INDArray labels = Nd4j.create(oneHot, new long[]{BATCH, CLASSES}, 'c').castTo(DataType.FLOAT);
        return new DataSet(features, labels);
    }
}
