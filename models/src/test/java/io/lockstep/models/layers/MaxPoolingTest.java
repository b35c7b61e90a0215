package io.lockstep.models.layers;

import io.lockstep.models.ActivationLayout;
import io.lockstep.models.ActivationLayouts;
import io.lockstep.models.InputShape;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.models.RandomBatches;
import io.lockstep.models.TrainingBatches;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNSubsamplingHelper;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link MaxPooling} computes what DL4J's max-pooling layer computes, bit for bit: the forward output,
 * and the input gradient (which position of equal maxima gets it, sums where overlapping windows share
 * a maximum, the sign of zeros), for every window the zoo builds, in both layouts; and networks built
 * with it train to the same parameters as with DL4J's layer.
 */
class MaxPoolingTest {
    private static final int CLASSES = 10;

    @AfterEach
    void releaseWorkspaces() {
        Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
    }

    /** kernel, stride, padding, input size: every pooling of the zoo, on even and odd maps. */
    static Stream<Arguments> windows() {
        List<Arguments> cases = new ArrayList<>();
        int[][] pools = {
                {2, 2, 0}, // lenet5, vgg, googlenet's last ceil-mode pool
                {3, 2, 0}, // alexnet, inception, googlenet (ceil mode pads the map first)
                {3, 2, 1}, // resnet and densenet stems
                {3, 1, 1}, // googlenet's inception branch pool
                {1, 2, 0}, // resnet20's option-A shortcut
        };
        for (int[] pool : pools) {
            for (int size : new int[]{7, 8, 13}) {
                for (CNN2DFormat format : CNN2DFormat.values()) {
                    for (String values : new String[]{"random", "ties"}) {
                        cases.add(Arguments.of(pool[0], pool[1], pool[2], size, format, values));
                    }
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "k{0} s{1} p{2} {3}x{3} {4} {5}")
    @MethodSource("windows")
    void forwardAndBackwardEqualDl4jsLayerBitForBit(int kernel, int stride, int padding, int size, CNN2DFormat format,
                                                    String values) {
        Random random = new Random(31L * kernel + 7L * stride + padding + 101L * size + format.ordinal());
        boolean ties = values.equals("ties");
        long[] shape = format == CNN2DFormat.NCHW ? new long[]{3, 5, size, size + 1} : new long[]{3, size, size + 1, 5};
        INDArray x = array(shape, random, ties);
        Layer ours = instantiate(MaxPooling.of(kernel, stride, padding, format));
        Layer stock = instantiate(stockOf(MaxPooling.of(kernel, stride, padding, format)));
        assertInstanceOf(MaxPoolingLayer.class, ours);
        assertInstanceOf(MKLDNNSubsamplingHelper.class, stock.getHelper(), "the comparison is against OneDNN's pooling");

        INDArray expected = forward(stock, x, true);
        INDArray actual = forward(ours, x, true);
        assertArrayEquals(expected.shape(), actual.shape());
        assertArrayEquals(FloatBits.of(expected), FloatBits.of(actual), "forward");

        INDArray epsilon = array(expected.shape(), random, ties);
        INDArray expectedGrad = backward(stock, epsilon);
        INDArray actualGrad = backward(ours, epsilon);
        // Sums of three or more gradients (overlapping windows sharing a maximum) are taken in output order;
        // OneDNN's blocked kernels take them in an order that depends on the CPU's vector width. Exact
        // values (the tie inputs) and non-overlapping windows leave no room for that difference.
        boolean exact = ties || stride >= kernel;
        assertGradientsEqual(expectedGrad, actualGrad, exact, "backward");

        // Inference records no maxima; a backward pass after it finds them again.
        assertArrayEquals(FloatBits.of(forward(stock, x, false)), FloatBits.of(forward(ours, x, false)), "inference forward");
        assertGradientsEqual(backward(stock, epsilon), backward(ours, epsilon), exact, "backward after inference");
    }

    /**
     * Bit for bit when {@code exact}; otherwise the same positions get a gradient, with the same sign, and
     * each value within the rounding of a few additions of unit-sized gradients.
     */
    private static void assertGradientsEqual(INDArray expected, INDArray actual, boolean exact, String what) {
        int[] e = FloatBits.of(expected);
        int[] a = FloatBits.of(actual);
        if (exact) {
            assertArrayEquals(e, a, what);
            return;
        }
        for (int i = 0; i < e.length; i++) {
            float ev = Float.intBitsToFloat(e[i]);
            float av = Float.intBitsToFloat(a[i]);
            assertEquals(ev == 0, av == 0, what + " at " + i + ": " + ev + " vs " + av);
            assertEquals(Math.signum(ev), Math.signum(av), what + " at " + i);
            assertEquals(ev, av, 1e-5, what + " at " + i);
        }
    }

    @Test
    void viewsAsInputAndEpsilonArePooledLikeDenseArrays() {
        Random random = new Random(3);
        INDArray base = array(new long[]{2, 4, 10, 9}, random, false);
        INDArray x = base.permute(0, 1, 3, 2); // 2x4x9x10, not C order
        Layer ours = instantiate(MaxPooling.of(3, 2, 1, CNN2DFormat.NCHW));
        Layer stock = instantiate(stockOf(MaxPooling.of(3, 2, 1, CNN2DFormat.NCHW)));
        INDArray expected = forward(stock, x, true);
        assertArrayEquals(FloatBits.of(expected), FloatBits.of(forward(ours, x, true)));
        INDArray epsilon = array(new long[]{2, 4, expected.size(3), expected.size(2)}, random, false).permute(0, 1, 3, 2);
        assertGradientsEqual(backward(stock, epsilon), backward(ours, epsilon), false, "backward");
    }

    @Test
    void configurationRoundTripsThroughJsonAndDiffersFromDl4jsLayer() {
        MaxPooling pool = MaxPooling.of(3, 2, 1, CNN2DFormat.NHWC);
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder().layer(pool).build();
        NeuralNetConfiguration back = NeuralNetConfiguration.fromJson(conf.toJson());
        assertInstanceOf(MaxPooling.class, back.getLayer());
        assertEquals(conf.getLayer(), back.getLayer());
        assertEquals(conf.getLayer().hashCode(), back.getLayer().hashCode());
        assertInstanceOf(MaxPooling.class, pool.clone());
        assertEquals(pool, pool.clone());
        SubsamplingLayer stock = stockOf(pool);
        assertNotEquals(stock, pool);
        assertNotEquals(pool, stock);
    }

    /**
     * A few optimizer steps of a zoo network with Lockstep's pooling and with DL4J's give the same loss at
     * every step and the same parameters, bit for bit, with the non-overlapping windows of lenet5 and
     * vgg-like 2x2 pools; resnet18's 3x3 stride-2 padded stem pool, in both layouts, to float rounding
     * (see {@link #forwardAndBackwardEqualDl4jsLayerBitForBit} for why not bit for bit).
     */
    @ParameterizedTest
    @ValueSource(strings = {"lenet5", "resnet18", "resnet18-nhwc"})
    void trainsBitIdenticallyToDl4jsPooling(String name) {
        boolean nhwc = name.endsWith("-nhwc");
        String model = nhwc ? name.substring(0, name.length() - "-nhwc".length()) : name;
        boolean lenet = model.equals("lenet5");
        InputShape shape = InputShape.parse(lenet ? "1x28x28" : "3x64x64"); // 64x64: resnet18 keeps its stem pool
        ModelOptions options = ModelOptions.of(CLASSES, shape);
        if (nhwc) {
            options = options.withLayout(ActivationLayout.NHWC);
        }
        ComputationGraph ours = ModelRegistry.build(model, options);
        ComputationGraph stock = withDl4jPooling(ours);
        assertTrue(Arrays.stream(ours.getLayers()).anyMatch(l -> l instanceof MaxPoolingLayer), name + " has no MaxPoolingLayer");
        assertTrue(Arrays.stream(stock.getLayers()).noneMatch(l -> l instanceof MaxPoolingLayer));

        int batch = lenet ? 32 : 4;
        for (int step = 0; step < 3; step++) {
            var data = RandomBatches.of(shape, batch, CLASSES, 21 + step);
            TrainingBatches.fit(stock, data);
            TrainingBatches.fit(ours, data);
            assertEquals(stock.score(), ours.score(), lenet ? 0.0 : 1e-5 * stock.score(), name + " loss of step " + step);
        }
        INDArray x = RandomBatches.of(shape, 4, CLASSES, 99).getFeatures();
        if (lenet) {
            assertArrayEquals(FloatBits.of(stock.params()), FloatBits.of(ours.params()), name + " parameters, bit for bit");
            assertArrayEquals(FloatBits.of(stock.outputSingle(false, x)), FloatBits.of(ours.outputSingle(false, x)), name + " inference");
        } else {
            double scale = stock.params().norm2Number().doubleValue();
            double difference = stock.params().sub(ours.params()).norm2Number().doubleValue();
            assertTrue(difference <= 1e-6 * scale, name + " parameters differ by " + difference + " (norm " + scale + ")");
        }
    }

    @Test
    void nhwcExportKeepsTheLayerInNchw() {
        ComputationGraph nhwc = ModelRegistry.build("resnet18",
                ModelOptions.of(CLASSES, InputShape.parse("3x64x64")).withLayout(ActivationLayout.NHWC));
        ComputationGraphConfiguration exported = ActivationLayouts.toNchw(nhwc.getConfiguration());
        ComputationGraphConfiguration nchw = ModelRegistry.build("resnet18",
                ModelOptions.of(CLASSES, InputShape.parse("3x64x64"))).getConfiguration();
        MaxPooling exportedPool = pool(exported, "maxpool");
        MaxPooling nchwPool = pool(nchw, "maxpool");
        assertEquals(CNN2DFormat.NCHW, exportedPool.getCnn2dDataFormat());
        assertEquals(nchwPool, exportedPool);
    }

    private static MaxPooling pool(ComputationGraphConfiguration conf, String vertex) {
        return (MaxPooling) ((LayerVertex) conf.getVertices().get(vertex)).getLayerConf().getLayer();
    }

    /** {@code ours} with DL4J's subsampling layer class in place of Lockstep's pooling, and its parameters. */
    private static ComputationGraph withDl4jPooling(ComputationGraph ours) {
        ComputationGraphConfiguration stockConf = ComputationGraphConfiguration.fromJson(ours.getConfiguration().toJson()
                .replace(MaxPooling.class.getName(), SubsamplingLayer.class.getName()));
        ComputationGraph stock = new ComputationGraph(stockConf);
        stock.init(ours.params().dup(), true);
        return stock;
    }

    private static SubsamplingLayer stockOf(MaxPooling pool) {
        SubsamplingLayer stock = new SubsamplingLayer();
        LayerConfigurations.copyFields(SubsamplingLayer.class, pool, stock);
        return stock;
    }

    private static Layer instantiate(SubsamplingLayer layer) {
        layer.setConvolutionMode(ConvolutionMode.Truncate); // the zoo's mode, set by the network builder
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).layer(layer).build();
        return conf.getLayer().instantiate(conf, null, 0, null, true, DataType.FLOAT);
    }

    private static INDArray forward(Layer layer, INDArray x, boolean training) {
        LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
        layer.setInput(x, mgr);
        return layer.activate(training, mgr).dup();
    }

    private static INDArray backward(Layer layer, INDArray epsilon) {
        Pair<Gradient, INDArray> result = layer.backpropGradient(epsilon, LayerWorkspaceMgr.noWorkspaces());
        return result.getSecond().dup();
    }

    /**
     * Gaussian values, or with {@code ties} values from {0, -0, 1, 2} (many equal maxima, signed zeros as a
     * ReLU's output and gradient carry them).
     */
    private static INDArray array(long[] shape, Random random, boolean ties) {
        int length = 1;
        for (long s : shape) {
            length *= (int) s;
        }
        float[] values = new float[length];
        for (int i = 0; i < length; i++) {
            values[i] = ties ? new float[]{0f, -0f, 1f, 2f}[random.nextInt(4)] : (float) random.nextGaussian();
        }
        return Nd4j.create(values, shape, 'c');
    }

}
