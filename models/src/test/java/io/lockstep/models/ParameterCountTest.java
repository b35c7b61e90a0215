package io.lockstep.models;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Trainable parameter counts against the published references, computed from the configuration only
 * (no parameter is allocated, so vgg19's 143M parameters cost nothing here).
 */
class ParameterCountTest {
    private static final InputShape IMAGENET = new InputShape(3, 224, 224);
    private static final InputShape CIFAR = new InputShape(3, 32, 32);
    private static final InputShape FASHION_MNIST = new InputShape(1, 28, 28);

    /**
     * torchvision's counts: sum(p.numel() for p in model.parameters()) with the default 1000 classes
     * (googlenet with aux_logits=False).
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "alexnet,   61100840",
            "vgg11,    132863336",
            "vgg11_bn, 132868840",
            "vgg13,    133047848",
            "vgg13_bn, 133053736",
            "vgg16,    138357544",
            "vgg16_bn, 138365992",
            "vgg19,    143667240",
            "vgg19_bn, 143678248",
            "resnet18,  11689512",
            "resnet34,  21797672",
            "resnet50,  25557032",
            "resnet101, 44549160",
            "resnet152, 60192808",
            "googlenet,  6624904",
            "densenet121, 7978856",
            "densenet161, 28681000",
            "densenet169, 14149480",
            "densenet201, 20013928",
            "vit_b_16,  86567656",
            "vit_b_32,  88224232",
            "vit_l_16, 304326632",
            "vit_l_32, 306535400",
            "vit_h_14, 632045800"})
    void imagenetModelsMatchTorchvision(String model, long torchvision) {
        assertEquals(torchvision, trainable(model, IMAGENET, 1000));
    }

    /*
     * CIFAR ResNets with option-A shortcuts, 3x32x32, 10 classes, n blocks per stage. Convolutions
     * have no bias, each BatchNorm has 2 trainable values per channel:
     *   stem        3*16*9 + 2*16                                    =    464
     *   stage 1     n * (2*(16*16*9) + 2*2*16)                       =   4672 n
     *   stage 2     first (16*32*9 + 2*32 + 32*32*9 + 2*32) = 13952, then (n-1) * (2*(32*32*9) + 4*32) = 18560 (n-1)
     *   stage 3     first (32*64*9 + 2*64 + 64*64*9 + 2*64) = 55552, then (n-1) * (2*(64*64*9) + 4*64) = 73984 (n-1)
     *   fc          64*10 + 10                                       =    650
     *   total       464 + 13952 + 55552 + 650 + 4672 n + 92544 (n-1) = 97216 n - 21926
     * n=3: 269,722 (paper: 0.27M), n=5: 464,154 (0.46M), n=7: 658,586 (0.66M), n=9: 853,018 (0.85M),
     * n=18: 1,727,962 (1.7M). A 1-channel input has 2*16*9 = 288 fewer stem weights.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "resnet20,   269722",
            "resnet32,   464154",
            "resnet44,   658586",
            "resnet56,   853018",
            "resnet110, 1727962"})
    void cifarResNetsMatchThePaperWithOptionA(String model, long expected) {
        assertEquals(expected, trainable(model, CIFAR, 10));
    }

    @Test
    void resnet20OnFashionMnistHasAOneChannelStem() {
        assertEquals(269_722 - 2 * 16 * 9, trainable("resnet20", FASHION_MNIST, 10));
    }

    @Test
    void lenet5MatchesTheHandCount() {
        // conv1 20*1*5*5+20, conv2 50*20*5*5+50, fc1 (50*7*7)*500+500, output 500*10+10
        assertEquals(520 + 25_050 + 1_225_500 + 5_010, trainable("lenet5", FASHION_MNIST, 10));
    }

    /*
     * vit_small on 1x28x28, 10 classes: 49 patches + class token = 50 tokens of width 192.
     *   conv_proj 192*1*4*4 + 192 = 3264; class token 192; position embeddings 50*192 = 9600;
     *   per layer: 2 LayerNorms 4*192, attention 3*192*192 + 3*192 + 192*192 + 192,
     *   MLP 192*384 + 384 + 384*192 + 192: 297,024, six layers 1,782,144;
     *   final LayerNorm 384; head 192*10 + 10 = 1930. Total 1,797,514 (torchvision's
     *   VisionTransformer(28, 4, 6, 4, 192, 384, num_classes=10) agrees).
     */
    @Test
    void smallVisionTransformerMatchesTheHandCount() {
        assertEquals(1_797_514, trainable("vit_small", FASHION_MNIST, 10));
        // 3 channels: 2*192*16 more patch weights; 64 patches: 15*192 more position embeddings.
        assertEquals(1_797_514 + 6_144 + 2_880, trainable("vit_small", CIFAR, 10));
    }

    @Test
    void inceptionV3WithItsAuxiliaryClassifierMatchesTorchvisionAt299() {
        assertEquals(27_161_264, trainable("inception_v3", new InputShape(3, 299, 299), 1000));
        // The adapted small-input stem and auxiliary head change no parameter count (only strides and padding).
        long at32 = trainable("inception_v3", new InputShape(3, 32, 32), 1000);
        assertEquals(27_161_264, at32);
    }

    /**
     * DenseNet-BC for CIFAR, 3x32x32, 10 classes: torchvision's DenseNet class with growth 12, blocks
     * (n, n, n), 24 initial features, bn_size 4, less its 7x7 stem convolution and norm0
     * (3*24*49 + 2*24) plus the 3x3 stem (3*24*9). L=100 is the paper's 0.8M.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "densenet_bc40,  176122",
            "densenet_bc100, 769162"})
    void denseNetBcMatchesTorchvisionsBlocksWithTheCifarStem(String model, long expected) {
        assertEquals(expected, trainable(model, CIFAR, 10));
        assertEquals(expected - 2 * 24 * 9, trainable(model, FASHION_MNIST, 10));
    }

    @Test
    void denseNet121BelowSixtyFourPixelsHasAThreeByThreeStem() {
        // torchvision's densenet121(num_classes=10) less 3*64*49 plus 3*64*9
        assertEquals(6_956_426, trainable("densenet121", CIFAR, 10));
    }

    @Test
    void simpleCnnMatchesTheCourseAtItsInputSize() {
        // conv1 3*16*9+16, conv2 16*32*9+32, fc1 (32*16*16)*128+128, fc2 128*10+10
        assertEquals(448 + 4_640 + 1_048_704 + 1_290, trainable("simplecnn", new InputShape(3, 64, 64), 10));
        assertEquals(1_055_082, trainable("simplecnn", new InputShape(3, 64, 64), 10));
    }

    @Test
    void batchNormRunningStatisticsAreCountedOnlyInTheTotal() {
        // resnet20: BatchNorm channels 16 (stem) + 6*16 + 6*32 + 6*64 = 688, each with a running
        // mean and a running (log) standard deviation in DL4J.
        ModelOptions options = ModelOptions.of(10, CIFAR);
        var conf = ModelRegistry.get("resnet20").configuration(options);
        assertEquals(2 * 688, ParameterCounts.total(conf) - ParameterCounts.trainable(conf));
    }

    @Test
    void withoutNormalizationResNetConvolutionsGetABiasInsteadOfBatchNorm() {
        ModelOptions options = ModelOptions.of(10, CIFAR).withNormalization(Normalization.NONE);
        var conf = ModelRegistry.get("resnet20").configuration(options);
        // Each BatchNorm (gamma + beta per channel) becomes one bias per channel, no running statistics.
        assertEquals(269_722 - 688, ParameterCounts.trainable(conf));
        assertEquals(ParameterCounts.trainable(conf), ParameterCounts.total(conf));
    }

    @ParameterizedTest(name = "{0} at {1}")
    @CsvSource({
            "lenet5,   1x28x28",
            "simplecnn, 3x64x64",
            "resnet20, 1x28x28",
            "resnet20, 3x32x32",
            "vgg11_bn, 1x28x28",
            "alexnet,  3x32x32",
            "resnet18, 3x16x16",
            "resnet50, 3x16x16",
            "googlenet, 3x32x32",
            "inception_v3, 3x15x15",
            "densenet_bc40, 1x28x28",
            "densenet121, 3x8x8",
            "vit_small, 3x32x32"})
    void configurationCountsAgreeWithAllocatedParameters(String model, String input) {
        ModelOptions options = ModelOptions.of(10, InputShape.parse(input));
        var conf = ModelRegistry.get(model).configuration(options);
        ComputationGraph graph = ModelRegistry.build(model, options);
        try {
            assertEquals(ParameterCounts.trainable(graph), ParameterCounts.trainable(conf));
            assertEquals(ParameterCounts.total(graph), ParameterCounts.total(conf));
        } finally {
            graph.close();
        }
    }

    private static long trainable(String model, InputShape input, int classes) {
        return ParameterCounts.trainable(ModelRegistry.get(model).configuration(ModelOptions.of(classes, input)));
    }
}
