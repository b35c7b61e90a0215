package io.lockstep.worker.nn;

import io.lockstep.models.ActivationLayout;
import io.lockstep.models.InputShape;
import io.lockstep.models.RandomBatches;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.models.TrainingBatches;
import io.lockstep.models.layers.NhwcConvolution;
import io.lockstep.worker.train.ReplicaTrainer;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.ConvolutionParamInitializer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.Collections;

import static io.lockstep.worker.nn.BatchNormTestSupport.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The convolution that calls OneDNN directly computes what DL4J's convolution computes: output, input
 * gradient, weight and bias gradients (DL4J's built-in path as reference) for strided, padded, 1x1, dilated and truncating configurations,
 * in NHWC and NCHW, and small residual networks and lenet5 train the same over a few steps with either; the
 * swap leaves non-float graphs alone and is undone by {@link ConvolutionKernels#DL4J}.
 */
class DnnlConvolutionTest {
    /** Float sums over up to a few hundred products, in another order than DL4J's. */
    private static final double TOLERANCE = 2e-5;

    @BeforeAll
    static void cpuBackendWithOneDnn() {
        assertTrue(DnnlConvolution.available(), "these tests need ND4J's CPU backend and org.bytedeco:dnnl's natives");
    }

    @ParameterizedTest(name = "{0}->{1} k{2} s{3} p{4} d{5} bias {6} {7} on {8}x{9}, strided input {10}, {11}")
    @CsvSource({
            "3, 8, 3, 1, 1, 1, true,  identity, 9, 9, false, NHWC",
            "4, 6, 3, 2, 1, 1, false, identity, 9, 9, false, NHWC",
            "4, 6, 1, 2, 0, 1, false, identity, 8, 8, false, NHWC",
            "8, 16, 1, 1, 0, 1, true, identity, 5, 5, true, NHWC",
            "5, 7, 3, 1, 2, 2, true,  relu,     7, 6, false, NHWC",
            "3, 4, 5, 3, 0, 1, true,  identity, 10, 11, true, NHWC",
            "3, 8, 3, 1, 1, 1, true,  identity, 9, 9, false, NCHW",
            "4, 6, 3, 2, 1, 1, false, identity, 9, 9, true, NCHW",
            "1, 6, 5, 1, 0, 1, true,  relu,     12, 12, false, NCHW",
            "5, 7, 3, 1, 2, 2, true,  relu,     7, 6, false, NCHW",
            "3, 4, 5, 3, 0, 1, true,  identity, 10, 11, true, NCHW",
    })
    void layerMatchesDl4j(int in, int out, int kernel, int stride, int pad, int dilation, boolean bias, String activation,
                          int height, int width, boolean stridedInput, CNN2DFormat format) {
        ConvolutionLayer.Builder builder = new ConvolutionLayer.Builder(kernel, kernel).nIn(in).nOut(out).stride(stride, stride)
                .padding(pad, pad).dilation(dilation, dilation).hasBias(bias).convolutionMode(ConvolutionMode.Truncate)
                .dataFormat(format).activation(Activation.fromString(activation));
        ConvolutionLayer reference = format == CNN2DFormat.NHWC ? NhwcConvolution.of(builder) : builder.build();
        Nd4j.getRandom().setSeed(7 + in * 31L + kernel);
        int batch = 3;
        INDArray x;
        if (format == CNN2DFormat.NHWC) {
            x = stridedInput
                    ? Nd4j.randn(DataType.FLOAT, batch, in, height, width).permute(0, 2, 3, 1)
                    : Nd4j.randn(DataType.FLOAT, batch, height, width, in);
        } else {
            x = stridedInput
                    ? Nd4j.randn(DataType.FLOAT, batch, height, width, in).permute(0, 3, 1, 2)
                    : Nd4j.randn(DataType.FLOAT, batch, in, height, width);
        }
        Layer expected = withoutHelper(standalone(reference, null));
        Layer actual = standalone(DnnlConvolution.from(reference), expected.params());
        assertInstanceOf(DnnlConvolutionLayer.class, actual);
        if (bias) {
            // DL4J starts biases at 0; give them values so that the forward's bias is checked.
            INDArray b = Nd4j.randn(DataType.FLOAT, 1, out);
            expected.getParam(ConvolutionParamInitializer.BIAS_KEY).assign(b);
            actual.getParam(ConvolutionParamInitializer.BIAS_KEY).assign(b);
        }

        LayerWorkspaceMgr none = LayerWorkspaceMgr.noWorkspaces();
        expected.setInput(x.dup(), none);
        actual.setInput(x, none);
        INDArray yExpected = expected.activate(true, none).dup();
        INDArray yActual = actual.activate(true, none).dup();
        assertClose("output", yExpected, yActual, TOLERANCE);

        INDArray epsilon = Nd4j.randn(DataType.FLOAT, yExpected.shape());
        Pair<Gradient, INDArray> back = expected.backpropGradient(epsilon.dup(), none);
        Pair<Gradient, INDArray> backActual = actual.backpropGradient(epsilon, none);
        assertClose("input gradient", back.getSecond(), backActual.getSecond(), TOLERANCE);
        assertClose("weight gradient", back.getFirst().getGradientFor(ConvolutionParamInitializer.WEIGHT_KEY),
                backActual.getFirst().getGradientFor(ConvolutionParamInitializer.WEIGHT_KEY), TOLERANCE);
        if (bias) {
            assertClose("bias gradient", back.getFirst().getGradientFor(ConvolutionParamInitializer.BIAS_KEY),
                    backActual.getFirst().getGradientFor(ConvolutionParamInitializer.BIAS_KEY), TOLERANCE);
        }
        assertEquals(1, ((DnnlConvolutionLayer) actual).shapesOnOneDnn(), "the call must have run on OneDNN, not fallen back");
        // The updater reads the layer's gradient view, not the arrays returned.
        assertClose("gradient view", expected.getGradientsViewArray(), actual.getGradientsViewArray(), TOLERANCE);
    }

    /**
     * A resnet20 built NHWC or NCHW and lenet5 (NCHW, ReLU convolutions, max pooling), with Lockstep's
     * BatchNorm as {@code bench step} runs it and cache mode DEVICE (what replicas use, so DL4J's
     * workspaces are on): three training steps give the same losses and parameters on OneDNN directly as
     * on DL4J's path.
     */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"resnet20, NHWC, 19", "resnet20, NCHW, 19", "lenet5, NCHW, 2"})
    void trainsLikeDl4j(String model, ActivationLayout layout, int atLeast) {
        ModelOptions options = ModelOptions.of(10, InputShape.parse("lenet5".equals(model) ? "1x28x28" : "1x12x12"))
                .withLayout(layout);
        ComputationGraph dl4j = BatchNormSwap.toSync(ModelRegistry.build(model, options), false);
        ComputationGraph dnnl = ConvolutionSwap.apply(dl4j, ConvolutionKernels.DNNL);
        int convolutions = ConvolutionSwap.countDnnl(dnnl.getConfiguration());
        assertTrue(convolutions >= atLeast, model + " has " + atLeast + " convolutions or more, swapped " + convolutions);
        for (org.deeplearning4j.nn.graph.vertex.GraphVertex vertex : dnnl.getVertices()) {
            if (vertex.hasLayer() && vertex.getLayer().conf().getLayer() instanceof DnnlConvolution) {
                assertInstanceOf(DnnlConvolutionLayer.class, vertex.getLayer(), vertex.getVertexName());
            }
        }
        ReplicaTrainer.useCacheMode(dl4j, CacheMode.DEVICE);
        ReplicaTrainer.useCacheMode(dnnl, CacheMode.DEVICE);
        assertEquals(dl4j.params(), dnnl.params());

        for (int step = 0; step < 3; step++) {
            DataSet batch = batch(options.input(), 4, 11 + step);
            TrainingBatches.fit(dl4j, batch);
            TrainingBatches.fit(dnnl, batch);
            assertEquals(dl4j.score(), dnnl.score(), 1e-5 * Math.abs(dl4j.score()), "loss of step " + step);
        }
        for (org.deeplearning4j.nn.graph.vertex.GraphVertex vertex : dnnl.getVertices()) {
            if (vertex.getLayer() instanceof DnnlConvolutionLayer layer) {
                assertEquals(1, layer.shapesOnOneDnn(), vertex.getVertexName() + " must have run on OneDNN, not fallen back");
            }
        }
        INDArray expected = dl4j.params();
        double diff = expected.sub(dnnl.params()).amaxNumber().doubleValue();
        double scale = expected.amaxNumber().doubleValue();
        assertTrue(diff <= 1e-5 * scale, "parameters after 3 steps differ by " + diff + " (largest " + scale + ")");
        // A smaller last batch takes new primitives; inference runs on them too.
        INDArray small = batch(options.input(), 3, 99).getFeatures();
        assertClose("inference on a partial batch", dl4j.outputSingle(false, small), dnnl.outputSingle(false, small), 1e-4);
    }

    @Test
    void swapLeavesDoubleGraphsAloneAndIsUndone() {
        ModelOptions options = ModelOptions.of(10, InputShape.parse("1x12x12"));
        ComputationGraph nchw = ModelRegistry.build("resnet20", options);
        ComputationGraph nchwSwapped = ConvolutionSwap.apply(nchw, ConvolutionKernels.DNNL);
        assertTrue(ConvolutionSwap.countDnnl(nchwSwapped.getConfiguration()) >= 19);
        ComputationGraph nchwBack = ConvolutionSwap.apply(nchwSwapped, ConvolutionKernels.DL4J);
        assertEquals(0, ConvolutionSwap.countDnnl(nchwBack.getConfiguration()));
        for (org.deeplearning4j.nn.conf.graph.GraphVertex vertex : nchwBack.getConfiguration().getVertices().values()) {
            if (vertex instanceof org.deeplearning4j.nn.conf.graph.LayerVertex layer
                    && layer.getLayerConf().getLayer() instanceof ConvolutionLayer conv) {
                assertSame(ConvolutionLayer.class, conv.getClass(), "an NCHW convolution goes back to DL4J's own class");
            }
        }
        assertEquals(nchw.params(), nchwBack.params());

        ComputationGraph doubles = new ComputationGraph(tinyNhwc(DataType.DOUBLE));
        doubles.init();
        assertSame(doubles, ConvolutionSwap.apply(doubles, ConvolutionKernels.DNNL));

        ComputationGraph floats = new ComputationGraph(tinyNhwc(DataType.FLOAT));
        floats.init();
        ComputationGraph swapped = ConvolutionSwap.apply(floats, ConvolutionKernels.DNNL);
        assertEquals(1, ConvolutionSwap.countDnnl(swapped.getConfiguration()));
        assertEquals(0, ConvolutionSwap.countDnnl(floats.getConfiguration()), "the input graph is not modified");
        assertSame(floats, ConvolutionSwap.apply(floats, ConvolutionKernels.DL4J));
        ComputationGraph back = ConvolutionSwap.apply(swapped, ConvolutionKernels.DL4J);
        assertEquals(0, ConvolutionSwap.countDnnl(back.getConfiguration()));
        assertInstanceOf(io.lockstep.models.layers.NhwcConvolutionLayer.class, back.getLayer("conv"));
        assertTrue(!(back.getLayer("conv") instanceof DnnlConvolutionLayer));
        assertEquals(floats.params(), back.params());
    }

    @Test
    void nchwBufferBytesAreTheLargestInputTwiceAndTheLargestOutputOfTheNchwConvolutions() {
        // lenet5 (pad 2): conv1 1x28x28 -> 20x28x28, conv2 20x14x14 -> 50x14x14
        assertEquals(64L * Float.BYTES * (2 * 20 * 14 * 14 + 20 * 28 * 28), nchwBufferBytes("lenet5", "1x28x28", ActivationLayout.NCHW, 64));
        // VGG-16 at 224x224: features_2 (64x224x224 -> 64x224x224) is the largest of both roles
        assertEquals(64L * Float.BYTES * 3 * 64 * 224 * 224, nchwBufferBytes("vgg16", "3x224x224", ActivationLayout.NCHW, 64));
        // NHWC convolutions run on OneDNN without conversions
        assertEquals(0, nchwBufferBytes("resnet20", "1x28x28", ActivationLayout.NHWC, 64));
    }

    private static long nchwBufferBytes(String model, String input, ActivationLayout layout, int batch) {
        InputShape shape = InputShape.parse(input);
        ComputationGraphConfiguration conf = ModelRegistry.get(model).configuration(ModelOptions.of(10, shape).withLayout(layout));
        return DnnlConvolution.nchwBufferBytes(conf, InputType.convolutional(shape.height(), shape.width(), shape.channels()), batch);
    }

    @Test
    void kernelsOptionParses() {
        assertEquals(ConvolutionKernels.DNNL, ConvolutionKernels.parse(" DNNL "));
        assertEquals(ConvolutionKernels.DL4J, ConvolutionKernels.parse("dl4j"));
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> ConvolutionKernels.parse("cudnn"));
        assertTrue(e.getMessage().contains("use dnnl or dl4j"), e.getMessage());
    }

    private static ComputationGraphConfiguration tinyNhwc(DataType type) {
        return new NeuralNetConfiguration.Builder().seed(3).dataType(type).graphBuilder().addInputs("in")
                .setInputTypes(InputType.convolutional(6, 6, 2, CNN2DFormat.NHWC))
                .addLayer("conv", NhwcConvolution.of(new ConvolutionLayer.Builder(3, 3).nOut(4).padding(1, 1)
                        .convolutionMode(ConvolutionMode.Truncate).dataFormat(CNN2DFormat.NHWC)), "in")
                .addLayer("pool", new GlobalPoolingLayer.Builder().build(), "conv")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3)
                        .activation(Activation.SOFTMAX).build(), "pool")
                .setOutputs("out").build();
    }

    /**
     * DL4J's layer on its built-in im2col path: the reference that does not depend on OneDNN (DL4J's
     * OneDNN helper, 2.3 inside nd4j-native, refuses some dilated cases this layer runs).
     */
    private static Layer withoutHelper(Layer layer) {
        try {
            java.lang.reflect.Field helper = org.deeplearning4j.nn.layers.convolution.ConvolutionLayer.class.getDeclaredField("helper");
            helper.setAccessible(true);
            helper.set(layer, null);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
        return layer;
    }

    private static Layer standalone(ConvolutionLayer layerConf, INDArray params) {
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder().seed(5).dataType(DataType.FLOAT)
                .layer(layerConf.clone()).build();
        long numParams = conf.getLayer().initializer().numParams(conf);
        INDArray view = Nd4j.create(DataType.FLOAT, 1, numParams);
        Layer layer = conf.getLayer().instantiate(conf, Collections.emptyList(), 0, view, true, DataType.FLOAT);
        layer.setBackpropGradientsViewArray(Nd4j.create(DataType.FLOAT, 1, numParams));
        if (params != null) {
            view.assign(params);
        }
        return layer;
    }

    private static DataSet batch(InputShape shape, int size, long seed) {
        return RandomBatches.of(shape, size, 10, seed);
    }
}
