package io.lockstep.models;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.activations.impl.ActivationSoftmax;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.lossfunctions.impl.LossMCXENT;

import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Graph contract, feature-map shapes and the small-input rules, all from configurations (no allocation). */
class ArchitectureTest {
    private static final InputShape IMAGENET = new InputShape(3, 224, 224);

    static Stream<Architecture> everyArchitecture() {
        return ModelRegistry.all().stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("everyArchitecture")
    void hasOneImageInputAndOneSoftmaxCrossEntropyOutput(Architecture architecture) {
        ComputationGraphConfiguration conf = architecture.configuration(
                ModelOptions.of(architecture.defaultClasses(), architecture.defaultInput()));
        assertEquals(List.of(Architecture.INPUT), conf.getNetworkInputs());
        assertEquals(Architecture.OUTPUT, conf.getNetworkOutputs().get(0), "predictions are output 0");
        assertEquals(architecture.name().equals("inception_v3") ? List.of(Architecture.OUTPUT, InceptionV3.AUX_OUTPUT)
                : List.of(Architecture.OUTPUT), conf.getNetworkOutputs());
        for (String name : conf.getNetworkOutputs()) {
            OutputLayer outputLayer = assertInstanceOf(OutputLayer.class, layer(conf, name));
            LossMCXENT loss = assertInstanceOf(LossMCXENT.class, outputLayer.getLossFn());
            assertInstanceOf(ActivationSoftmax.class, outputLayer.getActivationFn());
            assertEquals(architecture.defaultClasses(), outputLayer.getNOut());
            if (name.equals(Architecture.OUTPUT)) {
                assertEquals(null, loss.getWeights(), "the main loss is unweighted");
            } else {
                // an auxiliary loss: uniform per-class weights = one scalar weight of the whole term
                assertEquals(architecture.defaultClasses(), loss.getWeights().length());
                assertEquals(InceptionV3.AUX_LOSS_WEIGHT, loss.getWeights().minNumber().doubleValue(), 1e-7);
                assertEquals(InceptionV3.AUX_LOSS_WEIGHT, loss.getWeights().maxNumber().doubleValue(), 1e-7);
            }
        }
        for (GraphVertex vertex : conf.getVertices().values()) {
            if (vertex instanceof LayerVertex lv && lv.getLayerConf().getLayer() instanceof BatchNormalization bn) {
                assertInstanceOf(ActivationIdentity.class, bn.getActivationFn(),
                        "BatchNorm must not carry an activation (the worker swaps it for SyncBatchNorm)");
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("everyArchitecture")
    void survivesAJsonRoundTripAsCheckpointsNeed(Architecture architecture) {
        ModelOptions options = ModelOptions.of(10, new InputShape(3, 32, 32))
                .withUpdater(new Nesterovs(0.1, 0.9), 5e-4);
        ComputationGraphConfiguration conf = architecture.configuration(options);
        assertEquals(conf, ComputationGraphConfiguration.fromJson(conf.toJson()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("everyArchitecture")
    void buildsAtItsMinimumSizeAndRejectsSmallerWithTheMinimumInTheMessage(Architecture architecture) {
        int minimum = architecture.minimumSize();
        architecture.configuration(ModelOptions.of(10, new InputShape(1, minimum, minimum)));
        if (minimum > 1) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> architecture.configuration(
                    ModelOptions.of(10, new InputShape(1, minimum - 1, minimum + 5))));
            assertTrue(e.getMessage().contains(architecture.name()), e.getMessage());
            assertTrue(e.getMessage().contains(minimum + "x" + minimum), e.getMessage());
        }
    }

    @Test
    void tooSmallInputsAreRejectedWithModelAndMinimum() {
        IllegalArgumentException alexnet = assertThrows(IllegalArgumentException.class,
                () -> ModelRegistry.get("alexnet").configuration(ModelOptions.of(10, new InputShape(3, 6, 6))));
        assertEquals("alexnet needs images of at least 7x7 pixels even after adapting to small inputs, got 3x6x6: "
                + "use larger images or a model for small inputs such as resnet20", alexnet.getMessage());
        IllegalArgumentException lenet = assertThrows(IllegalArgumentException.class,
                () -> ModelRegistry.get("lenet5").configuration(ModelOptions.of(10, new InputShape(1, 3, 3))));
        assertTrue(lenet.getMessage().startsWith("lenet5 needs images of at least 4x4 pixels"), lenet.getMessage());
    }

    @Test
    void imagenetFeatureMapsAreTorchvisionsAt224() {
        assertConv(types("alexnet", IMAGENET), "features_12", 256, 6, 6);
        assertEquals(256 * 6 * 6, dense("alexnet", IMAGENET, "classifier_1").getNIn());
        assertConv(types("vgg16", IMAGENET), "features_30", 512, 7, 7);
        assertEquals(512 * 7 * 7, dense("vgg16", IMAGENET, "classifier_0").getNIn());
        Map<String, InputType> resnet18 = types("resnet18", IMAGENET);
        assertConv(resnet18, "maxpool", 64, 56, 56);
        assertConv(resnet18, "layer4_1_relu", 512, 7, 7);
        assertConv(types("resnet50", IMAGENET), "layer4_2_relu", 2048, 7, 7);
        for (String model : List.of("alexnet", "vgg16")) {
            assertFalse(types(model, IMAGENET).containsKey("avgpool"), model + ": adaptive pool is the identity at 224");
        }
    }

    @Test
    void googLeNetMapsAreTorchvisionsWithCeilModePools() {
        Map<String, InputType> at224 = types("googlenet", IMAGENET);
        assertConv(at224, "conv1_relu", 64, 112, 112);
        assertConv(at224, "maxpool1", 64, 56, 56);      // ceil((112-3)/2)+1 = 56; floor would give 55
        assertConv(at224, "maxpool2", 192, 28, 28);
        assertConv(at224, "inception3a", 256, 28, 28);
        assertConv(at224, "inception3b", 480, 28, 28);
        assertConv(at224, "maxpool3", 480, 14, 14);
        assertConv(at224, "inception4e", 832, 14, 14);
        assertConv(at224, "maxpool4", 832, 7, 7);
        assertConv(at224, "inception5b", 1024, 7, 7);
        assertConv(at224, "inception4a_branch3_1_conv", 48, 14, 14); // torchvision's "5x5" branch is 3x3
        assertEquals(3, ((ConvolutionLayer) layer(conf("googlenet", IMAGENET), "inception4a_branch3_1_conv"))
                .getKernelSize()[0]);
        // 28: 14 after the stem, pools round up 14 -> 7 -> 3 -> 1, and the last pool of a 1x1 map is the identity.
        Map<String, InputType> at28 = types("googlenet", new InputShape(1, 28, 28));
        assertConv(at28, "maxpool1", 64, 7, 7);
        assertConv(at28, "maxpool2", 192, 3, 3);
        assertConv(at28, "maxpool3", 480, 1, 1);
        assertFalse(at28.containsKey("maxpool4"));
        assertConv(at28, "inception5b", 1024, 1, 1);
    }

    @Test
    void inceptionV3MapsAreTorchvisionsAt299AndItsAuxiliaryHeadAdaptsBelow() {
        Map<String, InputType> at299 = types("inception_v3", new InputShape(3, 299, 299));
        assertConv(at299, "Conv2d_1a_3x3_relu", 32, 149, 149);
        assertConv(at299, "maxpool1", 64, 73, 73);
        assertConv(at299, "maxpool2", 192, 35, 35);
        assertConv(at299, "Mixed_5b", 256, 35, 35);
        assertConv(at299, "Mixed_5d", 288, 35, 35);
        assertConv(at299, "Mixed_6a", 768, 17, 17);
        assertConv(at299, "Mixed_6e", 768, 17, 17);
        assertConv(at299, "AuxLogits_avgpool", 768, 5, 5);
        assertConv(at299, "AuxLogits_conv1_relu", 768, 1, 1);
        assertConv(at299, "Mixed_7a", 1280, 8, 8);
        assertConv(at299, "Mixed_7c", 2048, 8, 8);
        assertEquals(0, ((ConvolutionLayer) layer(conf("inception_v3", new InputShape(3, 299, 299)), "AuxLogits_conv1_conv"))
                .getPadding()[0]);
        // 224: Mixed_6e is 12x12, pooled to 3x3; the 5x5 convolution gets padding 1.
        Map<String, InputType> at224 = types("inception_v3", IMAGENET);
        assertConv(at224, "AuxLogits_avgpool", 768, 3, 3);
        assertConv(at224, "AuxLogits_conv1_relu", 768, 1, 1);
        // 32: the stem keeps 32x32, the second max-pool gives 15, Mixed_6e is 7x7 (the aux pool fits), Mixed_7c 3x3.
        Map<String, InputType> at32 = types("inception_v3", new InputShape(3, 32, 32));
        assertFalse(at32.containsKey("maxpool1"));
        assertConv(at32, "Conv2d_4a_3x3_relu", 192, 32, 32);
        assertConv(at32, "Mixed_5b", 256, 15, 15);
        assertConv(at32, "Mixed_6e", 768, 7, 7);
        assertConv(at32, "AuxLogits_avgpool", 768, 1, 1);
        assertConv(at32, "AuxLogits_conv1_relu", 768, 1, 1);
        assertConv(at32, "Mixed_7c", 2048, 3, 3);
        // 28: Mixed_6e is 6x6 -> pooled to 1x1 -> padded 5x5 conv keeps 1x1.
        assertConv(types("inception_v3", new InputShape(1, 28, 28)), "AuxLogits_conv1_relu", 768, 1, 1);
    }

    @Test
    void denseNetMapsAreTorchvisionsAt224AndTheBlocksConcatenateEveryLayer() {
        Map<String, InputType> at224 = types("densenet121", IMAGENET);
        assertConv(at224, "features_pool0", 64, 56, 56);
        assertConv(at224, "features_denseblock1_denselayer1_concat", 64 + 32, 56, 56);
        assertConv(at224, "features_denseblock1_denselayer6_concat", 64 + 6 * 32, 56, 56);
        assertConv(at224, "features_transition1_pool", 128, 28, 28);
        assertConv(at224, "features_denseblock2_denselayer12_concat", 128 + 12 * 32, 28, 28);
        assertConv(at224, "features_transition2_pool", 256, 14, 14);
        assertConv(at224, "features_denseblock3_denselayer24_concat", 256 + 24 * 32, 14, 14);
        assertConv(at224, "features_transition3_pool", 512, 7, 7);
        assertConv(at224, "features_norm5", 512 + 16 * 32, 7, 7);
        assertConv(at224, "features_denseblock4_denselayer16_conv1", 4 * 32, 7, 7);
        assertConv(types("densenet161", IMAGENET), "features_norm5", 2208, 7, 7);
        // Below 64 px: 3x3 stride-1 stem without max-pool, blocks at 32, 16, 8, 4.
        Map<String, InputType> at32 = types("densenet121", new InputShape(3, 32, 32));
        assertFalse(at32.containsKey("features_pool0"));
        assertConv(at32, "features_norm0", 64, 32, 32);
        assertConv(at32, "features_norm5", 1024, 4, 4);
        // DenseNet-BC-100 on Fashion-MNIST: 24 stem channels, blocks of 16 layers at 28, 14, 7.
        Map<String, InputType> bc = types("densenet_bc100", new InputShape(1, 28, 28));
        assertFalse(bc.containsKey("features_norm0"));
        assertConv(bc, "features_denseblock1_denselayer16_concat", 24 + 16 * 12, 28, 28);
        assertConv(bc, "features_transition1_pool", 108, 14, 14);
        assertConv(bc, "features_transition2_pool", 150, 7, 7);
        assertConv(bc, "features_norm5", 150 + 16 * 12, 7, 7);
    }

    /** PyTorch's MaxPool2d(3, 2, ceil_mode=True) on a 4x4 map gives 2x2, the second window holding one column/row. */
    @Test
    void ceilModeMaxPoolKeepsThePartialLastWindow() {
        Architecture pool = new Architecture() {
            public String name() { return "ceilpool"; }
            public String description() { return "test"; }
            public InputShape defaultInput() { return new InputShape(1, 4, 4); }
            public int defaultClasses() { return 2; }
            public int minimumSize() { return 1; }
            public ComputationGraphConfiguration configuration(ModelOptions options) {
                NetworkBuilder b = new NetworkBuilder(this, options);
                Node x = b.maxPoolCeil("pool", b.input(), 3, 2, 0);
                b.globalAvgPool("gap", x); // only to give the graph an output of the zoo's form
                return b.finish(new Node("gap", 1, 1, 1), 0);
            }
        };
        org.deeplearning4j.nn.graph.ComputationGraph graph = new org.deeplearning4j.nn.graph.ComputationGraph(
                pool.configuration(ModelOptions.of(2, new InputShape(1, 4, 4))));
        graph.init();
        float[] pixels = new float[16];
        for (int i = 0; i < 16; i++) {
            pixels[i] = (i * 7) % 16; // 0 7 14 5 / 12 3 10 1 / 8 15 6 13 / 4 11 2 9
        }
        org.nd4j.linalg.api.ndarray.INDArray in = org.nd4j.linalg.factory.Nd4j.create(pixels, new long[]{1, 1, 4, 4}, 'c');
        org.nd4j.linalg.api.ndarray.INDArray out = graph.feedForward(in, false).get("pool");
        assertArrayEquals(new long[]{1, 1, 2, 2}, out.shape());
        // windows rows/cols {0,1,2} and {2,3}: max of each
        assertArrayEquals(new float[]{15, 14, 15, 13}, out.reshape(4).toFloatVector(), 0f);
        graph.close();
    }

    @Test
    void vggOnAMultipleOfTheReferenceSizeAveragesToSevenBySevenLikeAdaptivePooling() {
        InputShape large = new InputShape(3, 448, 448);
        assertConv(types("vgg16", large), "avgpool", 512, 7, 7);
        assertEquals(138_357_544L, ParameterCounts.trainable(
                ModelRegistry.get("vgg16").configuration(ModelOptions.of(1000, large))));
    }

    @Test
    void smallInputsKeepEveryMapAtLeastOnePixel() {
        InputShape fashion = new InputShape(1, 28, 28);
        InputShape cifar = new InputShape(3, 32, 32);
        // VGG: pools at 28, 14, 7, 3; the fifth (a 1x1 map) is left out; the classifier reads 512x1x1.
        Map<String, InputType> vgg11 = types("vgg11", fashion);
        assertConv(vgg11, "features_18", 512, 1, 1);
        assertFalse(vgg11.containsKey("features_20"), "the fifth pool would take the map below 1x1");
        assertEquals(512, dense("vgg11", fashion, "classifier_0").getNIn());
        assertConv(types("vgg11", cifar), "features_20", 512, 1, 1);
        // AlexNet at 32: 7 after the stem, pooled to 3, pooled to 1, the third pool is left out.
        Map<String, InputType> alexnet = types("alexnet", cifar);
        assertConv(alexnet, "features_0", 64, 7, 7);
        assertConv(alexnet, "features_5", 192, 1, 1);
        assertFalse(alexnet.containsKey("features_12"));
        // ImageNet ResNets below 64 px: 3x3 stride-1 stem, no max-pool, stages at 32, 16, 8, 4.
        Map<String, InputType> resnet18 = types("resnet18", cifar);
        assertFalse(resnet18.containsKey("maxpool"));
        assertEquals(3, ((ConvolutionLayer) layer(conf("resnet18", cifar), "conv1")).getKernelSize()[0]);
        assertConv(resnet18, "layer1_1_relu", 64, 32, 32);
        assertConv(resnet18, "layer4_1_relu", 512, 4, 4);
        assertConv(types("resnet18", new InputShape(3, 64, 64)), "maxpool", 64, 16, 16);
        // CIFAR ResNets on Fashion-MNIST: stages at 28, 14, 7; the option-A shortcut matches the strided branch.
        Map<String, InputType> resnet20 = types("resnet20", fashion);
        assertConv(resnet20, "layer1_2_relu", 16, 28, 28);
        assertConv(resnet20, "layer2_0_shortcut_pad", 32, 14, 14);
        assertConv(resnet20, "layer3_0_shortcut_pad", 64, 7, 7);
        assertConv(resnet20, "layer3_2_relu", 64, 7, 7);
        // LeNet-5: 28 -> 14 -> 7, flattened 50x7x7.
        assertEquals(2450, dense("lenet5", fashion, "fc1").getNIn());
    }

    @Test
    void noNormalizationLeavesOutBatchNormOnlyWhereTheArchitectureHasIt() {
        InputShape cifar = new InputShape(3, 32, 32);
        ModelOptions none = ModelOptions.of(10, cifar).withNormalization(Normalization.NONE);
        for (String model : List.of("resnet20", "resnet18", "resnet50", "vgg11_bn")) {
            assertEquals(0, batchNormCount(ModelRegistry.get(model).configuration(none)), model);
            assertTrue(batchNormCount(conf(model, cifar)) > 0, model);
        }
        assertEquals(0, batchNormCount(conf("vgg11", cifar)));
        assertEquals(ParameterCounts.trainable(conf("vgg11", cifar)),
                ParameterCounts.trainable(ModelRegistry.get("vgg11_bn").configuration(none)));
    }

    /**
     * GroupNorm, LayerNorm and InstanceNorm take the place of every BatchNorm, with the same trainable
     * parameters (a scale and a shift per channel), and survive the JSON round trip of checkpoints.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("everyArchitecture")
    void perExampleNormalizationsReplaceEveryBatchNormWithTheSameParameterCount(Architecture architecture) {
        ModelOptions options = ModelOptions.of(10, new InputShape(3, 32, 32));
        ComputationGraphConfiguration batch = architecture.configuration(options);
        for (Normalization n : List.of(Normalization.GROUP, Normalization.LAYER, Normalization.INSTANCE)) {
            ComputationGraphConfiguration conf = architecture.configuration(options.withNormalization(n));
            assertEquals(0, batchNormCount(conf), architecture.name() + " " + n);
            assertEquals(batchNormCount(batch), groupNorms(conf).size(), architecture.name() + " " + n);
            assertEquals(ParameterCounts.trainable(batch), ParameterCounts.trainable(conf), architecture.name() + " " + n);
            assertEquals(ParameterCounts.trainable(conf), ParameterCounts.total(conf), "no running statistics");
            assertEquals(conf, ComputationGraphConfiguration.fromJson(conf.toJson()), architecture.name() + " " + n);
        }
    }

    @Test
    void groupCountsFollowTheOptionAndTheChannels() {
        ModelOptions options = ModelOptions.of(10, new InputShape(1, 28, 28));
        // resnet20's first BatchNorm has 16 channels, its last 64.
        ComputationGraphConfiguration group = conf(options.withNormalization(Normalization.GROUP));
        assertEquals(16, groupNorm(group, "bn1").getGroups(), "32 groups do not divide 16 channels: 16");
        assertEquals(32, groupNorm(group, "layer3_2_bn2").getGroups());
        assertEquals(8, groupNorm(conf(options.withNormalization(Normalization.GROUP).withNormGroups(8)), "layer3_2_bn2")
                .getGroups());
        assertEquals(8, groupNorm(conf(options.withNormalization(Normalization.GROUP).withNormGroups(12)), "layer3_2_bn2")
                .getGroups(), "12 does not divide 64 channels: the largest count below it that does");
        assertEquals(1, groupNorm(conf(options.withNormalization(Normalization.LAYER)), "layer3_2_bn2").getGroups());
        assertEquals(64, groupNorm(conf(options.withNormalization(Normalization.INSTANCE)), "layer3_2_bn2").getGroups());
        // GoogLeNet keeps its BatchNorm eps (1e-3) in the replacement.
        ComputationGraphConfiguration googlenet = ModelRegistry.get("googlenet")
                .configuration(options.withNormalization(Normalization.LAYER));
        assertEquals(1e-3, groupNorm(googlenet, "conv1_bn").getEps(), 0);
    }

    private static ComputationGraphConfiguration conf(ModelOptions options) {
        return ModelRegistry.get("resnet20").configuration(options);
    }

    private static GroupNormalization groupNorm(ComputationGraphConfiguration conf, String vertex) {
        return assertInstanceOf(GroupNormalization.class, layer(conf, vertex), vertex);
    }

    private static List<GroupNormalization> groupNorms(ComputationGraphConfiguration conf) {
        return conf.getVertices().values().stream()
                .filter(v -> v instanceof LayerVertex lv && lv.getLayerConf().getLayer() instanceof GroupNormalization)
                .map(v -> (GroupNormalization) ((LayerVertex) v).getLayerConf().getLayer())
                .toList();
    }

    private static long batchNormCount(ComputationGraphConfiguration conf) {
        return conf.getVertices().values().stream()
                .filter(v -> v instanceof LayerVertex lv && lv.getLayerConf().getLayer() instanceof BatchNormalization)
                .count();
    }

    private static ComputationGraphConfiguration conf(String model, InputShape input) {
        return ModelRegistry.get(model).configuration(ModelOptions.of(10, input));
    }

    private static Map<String, InputType> types(String model, InputShape input) {
        return conf(model, input).getLayerActivationTypes(
                InputType.convolutional(input.height(), input.width(), input.channels()));
    }

    private static DenseLayer dense(String model, InputShape input, String vertex) {
        return assertInstanceOf(DenseLayer.class, layer(conf(model, input), vertex));
    }

    private static Layer layer(ComputationGraphConfiguration conf, String vertex) {
        GraphVertex v = conf.getVertices().get(vertex);
        return assertInstanceOf(LayerVertex.class, v, vertex).getLayerConf().getLayer();
    }

    private static void assertConv(Map<String, InputType> types, String vertex, int channels, int height, int width) {
        InputType.InputTypeConvolutional type = assertInstanceOf(InputType.InputTypeConvolutional.class,
                types.get(vertex), vertex + " in " + types.keySet());
        assertArrayEquals(new long[]{channels, height, width},
                new long[]{type.getChannels(), type.getHeight(), type.getWidth()}, vertex);
    }
}
