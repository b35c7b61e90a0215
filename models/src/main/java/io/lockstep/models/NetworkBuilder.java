package io.lockstep.models;

import io.lockstep.models.layers.MaxPooling;
import io.lockstep.models.layers.NhwcConvolution;
import io.lockstep.models.layers.ReluActivation;
import io.lockstep.models.layers.ResidualAddRelu;
import io.lockstep.models.layers.ReluDense;
import io.lockstep.models.layers.VectorizedReLU;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.dropout.Dropout;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.graph.ScaleVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.layers.ZeroPaddingLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.linalg.lossfunctions.impl.LossMCXENT;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Builds one architecture's {@link ComputationGraphConfiguration} while tracking the activation
 * shape of every vertex, so that architectures can adapt to the input size (skip a pooling window
 * that does not fit, size the classifier from the real feature map) and so that a wrong shape
 * computation fails at build time instead of at the first forward pass.
 *
 * <p>Conventions shared by every architecture of the zoo:
 * <ul>
 *   <li>Convolutions and pooling use {@link ConvolutionMode#Truncate} with explicit padding: output
 *       size {@code floor((in + 2*pad - kernel) / stride) + 1}, as in PyTorch.</li>
 *   <li>Weights of convolutions and hidden dense layers are He-initialized ({@link WeightInit#RELU},
 *       normal with variance 2/fan_in, torchvision's kaiming); the softmax output layer uses Xavier;
 *       biases start at 0; BatchNorm starts at gamma 1, beta 0, with momentum 0.1 (DL4J decay 0.9)
 *       and eps 1e-5 like PyTorch.</li>
 *   <li>Weight decay is DL4J's {@code WeightDecay(coefficient, applyLR=true)}, set with
 *       {@code weightDecay(...)} on the builder of every convolution, dense and output layer: DL4J
 *       applies a layer's "regularization" list to its weight parameters only
 *       ({@code ParamInitializer.isWeightParam}); the bias list ({@code weightDecayBias}) stays
 *       empty, and BatchNorm layers get none (their {@code getRegularizationByParam} returns null for
 *       gamma and beta anyway). The update is decoupled: {@code w -= update(g) + lr*coef*w}. It is
 *       deliberately NOT set on the global {@code NeuralNetConfiguration.Builder}: DL4J 1.0.0-M2.1
 *       copies global non-L1/L2 regularizations into each layer once per configuration pass
 *       ({@code LayerValidation.configureBaseLayer}), so a global weight decay ends up twice in
 *       every layer and decays at twice the rate (caught by {@code WeightDecayTest}).</li>
 *   <li>BatchNorm layers always have the identity activation: ReLU after a BatchNorm is a separate
 *       activation layer ({@link ReluActivation}), so a replacement BatchNorm implementation (the worker's
 *       synchronized BatchNorm) never has to implement activations. {@link #norm} builds the layer
 *       the options ask for where the architecture has BatchNorm (GroupNorm, LayerNorm, InstanceNorm
 *       are {@link GroupNormalization} layers with the same eps).</li>
 *   <li>Activations are NCHW unless the options ask for {@link ActivationLayout#NHWC} and the
 *       architecture supports it: then convolution, BatchNorm and pooling layers are built NHWC, the
 *       input stays NCHW and an {@link NchwToNhwcPreProcessor} in front of each layer that reads it
 *       converts it; parameters are the same in both layouts.</li>
 * </ul>
 *
 * <p>Not thread-safe; one instance builds one configuration.
 */
final class NetworkBuilder {
    private final String model;
    private final ModelOptions options;
    private final InputType inputType;
    private final ComputationGraphConfiguration.GraphBuilder graph;
    private final List<Node> tracked = new ArrayList<>();
    private final Node input;
    private final List<String> auxiliaryOutputs = new ArrayList<>();
    private final CNN2DFormat format;

    NetworkBuilder(Architecture architecture, ModelOptions options) {
        this.model = architecture.name();
        this.options = options;
        InputShape shape = options.input();
        int minimum = architecture.minimumSize();
        if (shape.height() < minimum || shape.width() < minimum) {
            throw new IllegalArgumentException(model + " needs images of at least " + minimum + "x" + minimum
                    + " pixels even after adapting to small inputs, got " + shape
                    + ": use larger images or a model for small inputs such as resnet20");
        }
        if (options.layout() == ActivationLayout.NHWC) {
            if (!architecture.supportsLayout(ActivationLayout.NHWC)) {
                throw new IllegalArgumentException(model + " is built with NCHW activations only; NHWC is implemented "
                        + "for the resnet family: use layout nchw");
            }
            if (options.normalization() != Normalization.BATCH && options.normalization() != Normalization.NONE) {
                throw new IllegalArgumentException(model + ": NHWC activations are implemented with batch or no "
                        + "normalization, not " + options.normalization().cliName() + ": use layout nchw");
            }
        }
        this.format = options.layout() == ActivationLayout.NHWC ? CNN2DFormat.NHWC : CNN2DFormat.NCHW;
        NeuralNetConfiguration.Builder global = new NeuralNetConfiguration.Builder()
                .seed(options.seed())
                .updater(options.updater())
                .weightInit(WeightInit.RELU)
                .activation(Activation.IDENTITY)
                .convolutionMode(ConvolutionMode.Truncate)
                .dataType(DataType.FLOAT);
        this.inputType = InputType.convolutional(shape.height(), shape.width(), shape.channels());
        this.graph = global.graphBuilder()
                .addInputs(Architecture.INPUT)
                .setInputTypes(inputType);
        this.input = new Node(Architecture.INPUT, shape.channels(), shape.height(), shape.width());
    }

    Node input() {
        return input;
    }

    /** Whether the architecture's normalization layers are built ({@link Normalization#NONE} leaves them out). */
    boolean normalized() {
        return options.normalization() != Normalization.NONE;
    }

    /** A square convolution; {@code activation} is fused into the layer. */
    Node conv(String name, Node in, int filters, int kernel, int stride, int padding, boolean bias,
              Activation activation) {
        return conv(name, in, filters, kernel, kernel, stride, padding, padding, bias, activation);
    }

    /**
     * A convolution with a {@code kernelH x kernelW} window (Inception-v3's 1x7 and 7x1 factorized
     * convolutions), the same stride on both axes and padding per axis, as PyTorch's
     * {@code Conv2d(kernel_size=(kh, kw), padding=(ph, pw))}.
     */
    Node conv(String name, Node in, int filters, int kernelH, int kernelW, int stride, int padH, int padW,
              boolean bias, Activation activation) {
        ConvolutionLayer.Builder layer = new ConvolutionLayer.Builder(kernelH, kernelW)
                .stride(stride, stride)
                .padding(padH, padW)
                .nOut(filters)
                .hasBias(bias)
                .activation(activation == Activation.RELU ? new VectorizedReLU() : activation.getActivationFunction())
                .dataFormat(format);
        decayWeights(layer);
        addLayer(name, format == CNN2DFormat.NHWC ? NhwcConvolution.of(layer) : layer.build(), in);
        return track(new Node(name, filters, outputSize(name, in.height(), kernelH, stride, padH),
                outputSize(name, in.width(), kernelW, stride, padW)));
    }

    /** The normalization layer of {@link ModelOptions#normalization()} with PyTorch's default eps (1e-5). */
    Node norm(String name, Node in) {
        return norm(name, in, 1e-5);
    }

    /**
     * The normalization layer of {@link ModelOptions#normalization()} where the reference architecture
     * has a BatchNorm with this eps (torchvision's GoogLeNet and Inception-v3 use 1e-3): BatchNorm
     * (momentum 0.1), or GroupNorm / LayerNorm / InstanceNorm with the same eps. Must not be called
     * with {@link Normalization#NONE} (check {@link #normalized()}).
     */
    Node norm(String name, Node in, double eps) {
        int channels = in.channels();
        org.deeplearning4j.nn.conf.layers.Layer layer = switch (options.normalization()) {
            case BATCH -> new BatchNormalization.Builder()
                    .nOut(channels)
                    .eps(eps)
                    .activation(Activation.IDENTITY)
                    .dataFormat(format)
                    .build();
            case GROUP -> new GroupNormalization(largestDivisorUpTo(channels, options.normGroups()), eps);
            case LAYER -> new GroupNormalization(1, eps);
            case INSTANCE -> new GroupNormalization(channels, eps);
            case NONE -> throw new IllegalStateException(model + ": normalization layer " + name
                    + " requested although the options say none");
        };
        addLayer(name, layer, in);
        return track(new Node(name, channels, in.height(), in.width()));
    }

    /** The largest group count not above {@code wanted} that divides {@code channels} (GroupNorm needs equal groups). */
    static int largestDivisorUpTo(int channels, int wanted) {
        for (int g = Math.min(channels, wanted); g > 1; g--) {
            if (channels % g == 0) {
                return g;
            }
        }
        return 1;
    }

    Node relu(String name, Node in) {
        addLayer(name, ReluActivation.relu(), in);
        return track(new Node(name, in.channels(), in.height(), in.width()));
    }

    /**
     * A square max pool ({@link MaxPooling}: DL4J's results, with a backward pass that scatters the
     * gradient to the maxima the forward pass recorded instead of searching the windows again).
     */
    Node maxPool(String name, Node in, int kernel, int stride, int padding) {
        addLayer(name, MaxPooling.of(kernel, stride, padding, format), in);
        return track(new Node(name, in.channels(), outputSize(name, in.height(), kernel, stride, padding),
                outputSize(name, in.width(), kernel, stride, padding)));
    }

    /**
     * PyTorch's {@code MaxPool2d(kernel, stride, padding, ceil_mode=True)}: the output size rounds up,
     * so a last window that starts inside the (padded) map but runs past its end still produces an
     * output. DL4J has no ceil mode; where it changes the size, the map is first extended at the
     * bottom and right by zeros ({@code <name>_ceilpad}) just far enough for that window. Exact for
     * non-negative inputs (every ceil-mode pool of the zoo follows a ReLU), where a zero never wins a
     * max over a window that also holds real values. A 1x1 map, where PyTorch's own formula breaks
     * down for windows wider than the stride, is left as it is (any max pool of one pixel is that pixel).
     */
    Node maxPoolCeil(String name, Node in, int kernel, int stride, int padding) {
        if (in.height() == 1 && in.width() == 1) {
            return in;
        }
        int outH = ceilOutputSize(in.height(), kernel, stride, padding);
        int outW = ceilOutputSize(in.width(), kernel, stride, padding);
        int extraH = (outH - 1) * stride + kernel - (in.height() + 2 * padding);
        int extraW = (outW - 1) * stride + kernel - (in.width() + 2 * padding);
        Node x = in;
        if (extraH > 0 || extraW > 0) {
            String padName = name + "_ceilpad";
            addLayer(padName, new ZeroPaddingLayer.Builder(0, Math.max(0, extraH), 0, Math.max(0, extraW)).build(), in);
            x = track(new Node(padName, in.channels(), in.height() + Math.max(0, extraH), in.width() + Math.max(0, extraW)));
        }
        Node out = maxPool(name, x, kernel, stride, padding);
        if (out.height() != outH || out.width() != outW) {
            throw new IllegalStateException(model + ": ceil-mode pool " + name + " gives " + out.shape()
                    + ", PyTorch gives " + outH + "x" + outW);
        }
        return out;
    }

    /** PyTorch's pooling output size with {@code ceil_mode=True} (a window must start inside the map or its left padding). */
    private int ceilOutputSize(int in, int kernel, int stride, int padding) {
        int out = Math.floorDiv(in + 2 * padding - kernel + stride - 1, stride) + 1;
        if ((out - 1) * stride >= in + padding) {
            out--;
        }
        if (out < 1) {
            throw new IllegalStateException(model + ": a " + kernel + "-pixel pooling window does not fit a map of "
                    + in + " pixels; the minimum input size of " + model + " is wrong for input " + options.input());
        }
        return out;
    }

    /**
     * PyTorch's {@code AvgPool2d(kernel, stride, padding)} / {@code F.avg_pool2d} with its default
     * {@code count_include_pad=True}: padded zeros count in the divisor (always kernel*kernel).
     */
    Node avgPool(String name, Node in, int kernel, int stride, int padding) {
        addLayer(name, new SubsamplingLayer.Builder(PoolingType.AVG)
                .kernelSize(kernel, kernel)
                .stride(stride, stride)
                .padding(padding, padding)
                .avgPoolIncludePadInDivisor(true)
                .dataFormat(format)
                .build(), in);
        return track(new Node(name, in.channels(), outputSize(name, in.height(), kernel, stride, padding),
                outputSize(name, in.width(), kernel, stride, padding)));
    }

    /** Concatenation along channels ({@code torch.cat(..., 1)}), in the order given; maps must agree in size. */
    Node concat(String name, Node... parts) {
        int channels = 0;
        for (Node p : parts) {
            if (p.height() != parts[0].height() || p.width() != parts[0].width()) {
                throw new IllegalStateException(model + ": cannot concatenate " + parts[0].name() + " ("
                        + parts[0].shape() + ") and " + p.name() + " (" + p.shape() + ")");
            }
            channels += p.channels();
        }
        addVertex(name, channelMerge(), parts);
        return track(new Node(name, channels, parts[0].height(), parts[0].width()));
    }

    /**
     * torchvision's {@code AdaptiveAvgPool2d((target, target))} where DL4J can express it exactly:
     * a map whose sides are multiples of {@code target} is averaged over non-overlapping windows
     * (what adaptive pooling computes in that case). A map of exactly the target size is returned
     * unchanged; any other map (smaller, or not a multiple) is also returned unchanged and the
     * classifier is sized from it.
     */
    Node adaptiveAvgPoolIfExact(String name, Node in, int target) {
        boolean multiple = in.height() % target == 0 && in.width() % target == 0;
        if (!multiple || (in.height() == target && in.width() == target)) {
            return in;
        }
        int kh = in.height() / target;
        int kw = in.width() / target;
        addLayer(name, new SubsamplingLayer.Builder(PoolingType.AVG)
                .kernelSize(kh, kw)
                .stride(kh, kw)
                .dataFormat(format)
                .build(), in);
        return track(new Node(name, in.channels(), target, target));
    }

    Node add(String name, Node a, Node b) {
        requireSameShape(a, b);
        addVertex(name, new ElementWiseVertex(ElementWiseVertex.Op.Add), a, b);
        return track(new Node(name, a.channels(), a.height(), a.width()));
    }

    /**
     * {@code relu(a + b)}, the end of a residual block, as one vertex ({@link ResidualAddRelu}): DL4J's add
     * vertex and a ReLU layer compute the same in several passes over memory where this takes one.
     */
    Node addRelu(String name, Node a, Node b) {
        requireSameShape(a, b);
        addVertex(name, new ResidualAddRelu(), a, b);
        return track(new Node(name, a.channels(), a.height(), a.width()));
    }

    private void requireSameShape(Node a, Node b) {
        if (a.channels() != b.channels() || a.height() != b.height() || a.width() != b.width()) {
            throw new IllegalStateException(model + ": cannot add " + a.name() + " (" + a.shape() + ") and "
                    + b.name() + " (" + b.shape() + ")");
        }
    }

    /**
     * The parameter-free "option A" shortcut of He et al. (2016): takes every second pixel in both
     * directions ({@code x[:, :, ::2, ::2]}, a 1x1 max-pool with stride 2) and appends as many
     * all-zero channels as the input has ({@code [x, 0*x]} concatenated on channels), doubling the
     * channel count.
     */
    Node subsampleAndZeroPadChannels(String prefix, Node in) {
        Node subsampled = maxPool(prefix + "_subsample", in, 1, 2, 0);
        String zeros = prefix + "_zeros";
        addVertex(zeros, new ScaleVertex(0.0), subsampled);
        String merged = prefix + "_pad";
        graph.addVertex(merged, channelMerge(), subsampled.name(), zeros);
        return track(new Node(merged, 2 * in.channels(), subsampled.height(), subsampled.width()));
    }

    /**
     * A layer whose output is a token sequence ({@code width} features for each of {@code tokens}
     * tokens, a DL4J recurrent activation); the node records it as {@code width x tokens x 1}.
     */
    Node tokenLayer(String name, Layer layer, Node in, int width, int tokens) {
        addLayer(name, layer, in);
        return track(new Node(name, width, tokens, 1));
    }

    /** A layer whose output is a feature vector of {@code size} (untracked, like dense layers). */
    Node vectorLayer(String name, Layer layer, Node in, int size) {
        addLayer(name, layer, in);
        return new Node(name, size, 1, 1);
    }

    double weightDecay() {
        return options.weightDecay();
    }

    Node globalAvgPool(String name, Node in) {
        addLayer(name, new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), in);
        return new Node(name, in.channels(), 1, 1);
    }

    /**
     * A fully connected hidden layer with ReLU; {@code dropProbability} (0 for none) drops inputs of
     * this layer during training, like a {@code nn.Dropout} placed just before it.
     */
    Node dense(String name, Node in, int units, double dropProbability) {
        DenseLayer.Builder layer = new DenseLayer.Builder().nOut(units).activation(new VectorizedReLU());
        if (dropProbability > 0) {
            layer.dropOut(new Dropout(1.0 - dropProbability)); // DL4J takes the retain probability
        }
        decayWeights(layer);
        addLayer(name, ReluDense.of(layer), in);
        return new Node(name, units, 1, 1);
    }

    /**
     * Adds the softmax output layer {@link Architecture#OUTPUT} (multi-class cross-entropy) on top of
     * {@code features}, builds, and checks every tracked shape against DL4J's own shape inference.
     */
    ComputationGraphConfiguration finish(Node features, double dropProbability) {
        OutputLayer.Builder output = new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                .nOut(options.numClasses())
                .activation(Activation.SOFTMAX)
                .weightInit(WeightInit.XAVIER);
        if (dropProbability > 0) {
            output.dropOut(new Dropout(1.0 - dropProbability));
        }
        decayWeights(output);
        addLayer(Architecture.OUTPUT, output.build(), features);
        List<String> outputs = new ArrayList<>();
        outputs.add(Architecture.OUTPUT);
        outputs.addAll(auxiliaryOutputs);
        graph.setOutputs(outputs.toArray(String[]::new));
        ComputationGraphConfiguration conf = graph.build();
        verifyShapes(conf);
        return conf;
    }

    /**
     * A training-only classifier head (Inception-v3's {@code AuxLogits}): a softmax output layer named
     * {@code name}, listed after {@link Architecture#OUTPUT} among the graph's outputs, whose
     * cross-entropy is multiplied by {@code lossWeight} in the total loss. The weight is a uniform
     * per-class weight vector of {@code LossMCXENT}, which with softmax scales both the score and the
     * gradient exactly by that factor (for one-hot or any labels summing to 1 per example).
     */
    void auxiliaryOutput(String name, Node features, double lossWeight) {
        INDArray weights = Nd4j.valueArrayOf(new long[]{options.numClasses()}, lossWeight, DataType.FLOAT);
        OutputLayer.Builder output = new OutputLayer.Builder(new LossMCXENT(weights))
                .nOut(options.numClasses())
                .activation(Activation.SOFTMAX)
                .weightInit(WeightInit.XAVIER);
        decayWeights(output);
        addLayer(name, output.build(), features);
        auxiliaryOutputs.add(name);
    }

    private void verifyShapes(ComputationGraphConfiguration conf) {
        Map<String, InputType> inferred = conf.getLayerActivationTypes(inputType);
        for (Node node : tracked) {
            InputType type = inferred.get(node.name());
            if (type instanceof InputType.InputTypeRecurrent r) {
                if (r.getSize() != node.channels() || r.getTimeSeriesLength() != node.height() || node.width() != 1) {
                    throw new IllegalStateException(model + ": vertex " + node.name() + " was planned as "
                            + node.channels() + " features x " + node.height() + " tokens but DL4J infers " + type);
                }
                continue;
            }
            if (!(type instanceof InputType.InputTypeConvolutional c)
                    || c.getChannels() != node.channels() || c.getHeight() != node.height()
                    || c.getWidth() != node.width() || c.getFormat() != format) {
                throw new IllegalStateException(model + ": vertex " + node.name() + " was planned as "
                        + node.shape() + " but DL4J infers " + type + "; fix the shape rule in NetworkBuilder");
            }
        }
    }

    /** Concatenation along channels: DL4J's vertex for NCHW, one that keeps axis 3 through a clone for NHWC. */
    private MergeVertex channelMerge() {
        return format == CNN2DFormat.NHWC ? new AxisMergeVertex(3) : new MergeVertex();
    }

    /** Adds a layer reading {@code in}; a layer reading the NCHW input of an NHWC network gets the conversion in front. */
    private void addLayer(String name, Layer layer, Node in) {
        if (in == input && format == CNN2DFormat.NHWC) {
            graph.addLayer(name, layer, new NchwToNhwcPreProcessor(), in.name());
        } else {
            graph.addLayer(name, layer, in.name());
        }
    }

    /** Adds a vertex; vertices cannot convert the input's layout, so in an NHWC network they must not read it. */
    private void addVertex(String name, org.deeplearning4j.nn.conf.graph.GraphVertex vertex, Node... inputs) {
        String[] names = new String[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            if (inputs[i] == input && format == CNN2DFormat.NHWC) {
                throw new IllegalStateException(model + ": vertex " + name + " reads the NCHW input of an NHWC network; "
                        + "only layers convert it");
            }
            names[i] = inputs[i].name();
        }
        graph.addVertex(name, vertex, names);
    }

    /** Weight decay on this layer's weights only; see the class comment for why not globally. */
    private void decayWeights(BaseLayer.Builder<?> layer) {
        if (options.weightDecay() > 0) {
            layer.weightDecay(options.weightDecay(), true);
        }
    }

    private Node track(Node node) {
        tracked.add(node);
        return node;
    }

    private int outputSize(String layer, int in, int kernel, int stride, int padding) {
        int padded = in + 2 * padding;
        if (padded < kernel) {
            throw new IllegalStateException(model + ": layer " + layer + " gets a map of " + in
                    + " pixels, smaller than its " + kernel + "-pixel window; the minimum input size of "
                    + model + " is wrong for input " + options.input());
        }
        return (padded - kernel) / stride + 1;
    }
}
