package io.lockstep.worker.nn;

import io.lockstep.models.layers.NhwcConvolutionLayer;
import io.lockstep.models.layers.VectorizedReLU;
import org.bytedeco.dnnl.IntMemoryMap;
import org.bytedeco.dnnl.convolution_backward_data;
import org.bytedeco.dnnl.convolution_backward_weights;
import org.bytedeco.dnnl.convolution_forward;
import org.bytedeco.dnnl.engine;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.reorder;
import org.bytedeco.dnnl.stream;
import org.bytedeco.dnnl.global.dnnl;
import org.bytedeco.javacpp.Pointer;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.params.ConvolutionParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ConvolutionUtils;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_BIAS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_BIAS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_WEIGHTS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;

/**
 * A 2-D convolution on float activations that calls OneDNN directly (its own JavaCPP bindings), for the
 * CPU backend; created only through {@link DnnlConvolution}, never on another backend.
 *
 * <p>Why: DL4J's OneDNN helper asks OneDNN for its own layouts on every call and converts the
 * activations to and from them each time, and its backward pass runs the forward again. Here the
 * convolutions run on OneDNN's NHWC kernels: NHWC activations are taken by address, never converted;
 * NCHW ones are converted to NHWC in buffers of the calling thread and back ({@link NchwBoundary}), which
 * costs far less than OneDNN's plain-NCHW kernels would. Only the weights take OneDNN's layout
 * ({@code any}): converted from DL4J's {@code [out, in, kH, kW]} parameter view once per forward pass
 * (once per training step) and reused by the backward-data pass when both picked the same layout; the
 * weight gradient is converted back into DL4J's gradient view. The primitives are created once per
 * input shape and kept (a few shapes: training batch, last partial batch, evaluation batch).
 *
 * <p>Nothing is kept from the forward pass but the layer's input, which DL4J keeps anyway, and, for a
 * plain ReLU, the layer's output, which the next layer keeps anyway: with the identity activation (every
 * convolution of the residual networks, a BatchNorm follows) the backward pass needs only the input and
 * the weights; with a plain ReLU it takes the derivative from the output; with another activation it
 * computes the convolution's output again (into backward working memory) to differentiate it.
 *
 * <p>Falls back to {@link NhwcConvolutionLayer} (DL4J's path, which is DL4J's own for NCHW) for anything
 * else: other data types, {@code Same} mode, dropout or weight noise on the layer, or a shape OneDNN has
 * no primitive for.
 * Threads: the presets' OneDNN runs on the OpenMP runtime ND4J loaded (one {@code libgomp}), so the
 * calling thread's OpenMP count ({@code ComputeThreads.bind}) sizes its team as it sizes ND4J's.
 *
 * <p>One instance per layer of one graph; called by the thread that trains it.
 */
final class DnnlConvolutionLayer extends NhwcConvolutionLayer {
    private static final Logger LOG = LoggerFactory.getLogger(DnnlConvolutionLayer.class);
    /** Shapes kept per layer; a fourth evicts the oldest. */
    private static final int MAX_PLANS = 3;
    private static final engine ENGINE = new engine(engine.kind.cpu, 0);

    private final stream stream = new stream(ENGINE);
    private final Map<Shape, Plan> plans = new LinkedHashMap<>(4, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Shape, Plan> eldest) {
            return size() > MAX_PLANS;
        }
    };
    /** Input shapes OneDNN refused (logged once each): DL4J's path runs them. */
    private final java.util.Set<Shape> refused = new java.util.HashSet<>();
    /** A ReLU convolution's output of the last training forward, and its input: the backward reads the ReLU's derivative from it. */
    private INDArray trainingOutput;
    private INDArray trainingInput;

    DnnlConvolutionLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    /** Creates the layer; the only entry point, so that callers never link against OneDNN's classes themselves. */
    static Layer create(NeuralNetConfiguration conf, DataType dataType) {
        return new DnnlConvolutionLayer(conf, dataType);
    }

    /** Number of input shapes this layer runs on OneDNN (for tests: 0 means every call took DL4J's path). */
    int shapesOnOneDnn() {
        return plans.size();
    }

    /** Loads OneDNN's natives; throws when they cannot be loaded on this machine. */
    static void load() {
        org.bytedeco.javacpp.Loader.load(dnnl.class);
    }

    /** An input shape (N, H, W, C) and whether the activations are NCHW: the key of a plan. */
    private record Shape(long n, long h, long w, long c, boolean nchw) {
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        Plan plan = planFor(input);
        if (plan == null) {
            return super.activate(training, workspaceMgr);
        }
        assertInputSet(false);
        INDArray x = contiguous(input) ? input : workspaceMgr.dup(ArrayType.ACTIVATIONS, input, 'c');
        INDArray z = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, dataType, plan.outShape, 'c');
        plan.forward(x, params.get(ConvolutionParamInitializer.WEIGHT_KEY), bias(), z);
        IActivation activation = layerConf().getActivationFn();
        INDArray output = activation instanceof ActivationIdentity ? z : activation.getActivation(z, training);
        boolean keep = training && VectorizedReLU.isPlainRelu(activation);
        trainingOutput = keep ? output : null;
        trainingInput = keep ? input : null;
        return output;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        Plan plan = planFor(input);
        if (plan == null) {
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        assertInputSet(true);
        INDArray x = contiguous(input) ? input : workspaceMgr.dup(ArrayType.BP_WORKING_MEM, input, 'c');
        INDArray weights = params.get(ConvolutionParamInitializer.WEIGHT_KEY);
        IActivation activation = layerConf().getActivationFn();
        INDArray delta;
        INDArray forwardOutput = input == trainingInput ? trainingOutput : null;
        trainingOutput = null;
        trainingInput = null;
        if (activation instanceof ActivationIdentity) {
            delta = contiguous(epsilon) ? epsilon : workspaceMgr.dup(ArrayType.BP_WORKING_MEM, epsilon, 'c');
        } else if (forwardOutput != null) {
            // A plain ReLU's derivative is 1 exactly where its output is positive: no second convolution.
            delta = activation.backprop(forwardOutput, epsilon).getFirst();
            if (!contiguous(delta)) {
                delta = workspaceMgr.dup(ArrayType.BP_WORKING_MEM, delta, 'c');
            }
        } else {
            INDArray z = workspaceMgr.createUninitialized(ArrayType.BP_WORKING_MEM, dataType, plan.outShape, 'c');
            plan.forward(x, weights, bias(), z);
            delta = activation.backprop(z, epsilon).getFirst();
            if (!contiguous(delta)) {
                delta = workspaceMgr.dup(ArrayType.BP_WORKING_MEM, delta, 'c');
            }
        }
        INDArray weightGrad = gradientViews.get(ConvolutionParamInitializer.WEIGHT_KEY);
        INDArray biasGrad = hasBias() ? gradientViews.get(ConvolutionParamInitializer.BIAS_KEY) : null;
        INDArray epsilonOut = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, dataType, x.shape(), 'c');
        plan.backward(x, weights, delta, epsilonOut, weightGrad, biasGrad);
        Gradient gradient = new DefaultGradient();
        if (biasGrad != null) {
            gradient.setGradientFor(ConvolutionParamInitializer.BIAS_KEY, biasGrad);
        }
        gradient.setGradientFor(ConvolutionParamInitializer.WEIGHT_KEY, weightGrad, 'c');
        return new Pair<>(gradient, epsilonOut);
    }

    @Override
    public void clear() {
        super.clear();
        trainingOutput = null;
        trainingInput = null;
    }

    private INDArray bias() {
        return hasBias() ? params.get(ConvolutionParamInitializer.BIAS_KEY) : null;
    }

    /** The primitives for {@code in}, or {@code null} when this input or configuration takes DL4J's path. */
    private Plan planFor(INDArray in) {
        org.deeplearning4j.nn.conf.layers.ConvolutionLayer config = layerConf();
        boolean nchw = config.getCnn2dDataFormat() == CNN2DFormat.NCHW;
        if (in == null || in.rank() != 4 || in.dataType() != DataType.FLOAT || dataType != DataType.FLOAT
                || convolutionMode == ConvolutionMode.Same || config.getIDropout() != null || config.getWeightNoise() != null
                || in.size(nchw ? 1 : 3) != config.getNIn()) {
            return null;
        }
        Shape shape = nchw ? new Shape(in.size(0), in.size(2), in.size(3), in.size(1), true)
                : new Shape(in.size(0), in.size(1), in.size(2), in.size(3), false);
        Plan plan = plans.get(shape);
        if (plan != null || refused.contains(shape)) {
            return plan;
        }
        try {
            plan = new Plan(shape, config, in);
        } catch (RuntimeException e) {
            // Sizes DL4J rejects fail the same way on its path, with its message; OneDNN's refusals run there too.
            refused.add(shape);
            LOG.warn("{}: OneDNN has no convolution for input {}; DL4J's path runs it: {}", layerId(), shape, e.toString());
            return null;
        }
        plans.put(shape, plan);
        return plan;
    }

    /** Whether {@code a}'s elements lie densely in C order from its offset (axes of size 1 may have any stride). */
    private static boolean contiguous(INDArray a) {
        long expected = 1;
        for (int d = a.rank() - 1; d >= 0; d--) {
            if (a.size(d) != 1 && a.stride(d) != expected) {
                return false;
            }
            expected *= a.size(d);
        }
        return true;
    }

    /** An address OneDNN reads or writes, re-pointed per call without allocating. */
    private static final class Address extends Pointer {
        Address at(INDArray a) {
            if (a.dataType() != DataType.FLOAT || !contiguous(a)) {
                throw new IllegalStateException("OneDNN convolution: expected a dense C-order float array, got "
                        + a.shapeInfoToString().replace('\n', ' '));
            }
            address = a.data().address() + a.offset() * Float.BYTES;
            return this;
        }
    }

    /** A memory over caller-owned arrays, re-pointed per call. */
    private static final class Bound {
        final memory memory;
        private final Address address = new Address();

        Bound(memory.desc desc) {
            memory = new memory(desc, ENGINE, (Pointer) null);
        }

        memory to(INDArray a) {
            memory.set_data_handle(address.at(a));
            return memory;
        }
    }

    /** The three primitives of one input shape, their memories and the weight conversions. */
    private final class Plan {
        final long[] outShape;
        private final convolution_forward forward;
        private final convolution_backward_data backwardData;
        private final convolution_backward_weights backwardWeights;
        private final Bound src;
        private final Bound dst;
        private final Bound diffDst;
        private final Bound diffSrc;
        private final Bound userWeights;
        private final Bound userDiffWeights;
        private final Bound bias;
        private final Bound diffBias;
        /** OneDNN-owned weights in the forward's layout, or null when that is DL4J's. */
        private final memory forwardWeights;
        /** OneDNN-owned weights in the backward-data layout; the forward's when both chose the same. */
        private final memory backwardDataWeights;
        private final boolean backwardSharesForwardWeights;
        private final memory diffWeights;
        private final reorder toForwardWeights;
        private final reorder toBackwardDataWeights;
        private final reorder fromDiffWeights;
        private final IntMemoryMap forwardArgs = new IntMemoryMap();
        private final IntMemoryMap backwardDataArgs = new IntMemoryMap();
        private final IntMemoryMap backwardWeightsArgs = new IntMemoryMap();
        /** Whether the forward's converted weights are those of the current parameters (a backward follows its forward). */
        private boolean forwardWeightsCurrent;
        /** NCHW activations only: the caller's arrays, converted to and from the NHWC memories above. */
        private final NchwBoundary nchw;

        Plan(Shape shape, org.deeplearning4j.nn.conf.layers.ConvolutionLayer config, INDArray in) {
            int[] kernel = config.getKernelSize();
            int[] strides = config.getStride();
            int[] pad = config.getPadding();
            int[] dilation = config.getDilation();
            // Validates as DL4J does (Strict mode's exact fit, sizes) and gives DL4J's output size.
            int[] out = ConvolutionUtils.getOutputSize(in, kernel, strides, pad, convolutionMode, dilation,
                    shape.nchw ? CNN2DFormat.NCHW : CNN2DFormat.NHWC);
            long nOut = config.getNOut();
            outShape = shape.nchw ? new long[]{shape.n, nOut, out[0], out[1]} : new long[]{shape.n, out[0], out[1], nOut};
            long[] padL = {pad[0], pad[1]};
            // DL4J's Truncate mode drops the rows a stride leaves over; OneDNN wants the right padding that makes
            // its output size equal, which is then below the left padding (possibly negative).
            long[] padR = new long[2];
            long[] inSize = {shape.h, shape.w};
            for (int i = 0; i < 2; i++) {
                long effective = (long) (kernel[i] - 1) * dilation[i] + 1;
                padR[i] = (out[i] - 1L) * strides[i] + effective - inSize[i] - pad[i];
            }
            long[] stride = {strides[0], strides[1]};
            long[] dilate = {dilation[0] - 1L, dilation[1] - 1L};
            memory.desc srcMd = desc(new long[]{shape.n, shape.c, shape.h, shape.w}, memory.format_tag.nhwc);
            memory.desc dstMd = desc(new long[]{shape.n, nOut, out[0], out[1]}, memory.format_tag.nhwc);
            long[] weightDims = {nOut, shape.c, kernel[0], kernel[1]};
            memory.desc userWeightsMd = desc(weightDims, memory.format_tag.oihw);
            memory.desc anyWeightsMd = desc(weightDims, memory.format_tag.any);
            boolean withBias = config.hasBias();
            memory.desc biasMd = withBias ? desc(new long[]{nOut}, memory.format_tag.x) : null;
            dnnl.algorithm algorithm = dnnl.algorithm.convolution_direct;
            convolution_forward.primitive_desc fwd = new convolution_forward.primitive_desc(withBias
                    ? new convolution_forward.desc(dnnl.prop_kind.forward_training, algorithm, srcMd, anyWeightsMd, biasMd, dstMd,
                    stride, dilate, padL, padR)
                    : new convolution_forward.desc(dnnl.prop_kind.forward_training, algorithm, srcMd, anyWeightsMd, dstMd,
                    stride, dilate, padL, padR), ENGINE);
            convolution_backward_data.primitive_desc bwdData = new convolution_backward_data.primitive_desc(
                    new convolution_backward_data.desc(algorithm, srcMd, anyWeightsMd, dstMd, stride, dilate, padL, padR), ENGINE, fwd);
            convolution_backward_weights.primitive_desc bwdWeights = new convolution_backward_weights.primitive_desc(withBias
                    ? new convolution_backward_weights.desc(algorithm, srcMd, anyWeightsMd, biasMd, dstMd, stride, dilate, padL, padR)
                    : new convolution_backward_weights.desc(algorithm, srcMd, anyWeightsMd, dstMd, stride, dilate, padL, padR),
                    ENGINE, fwd);
            forward = new convolution_forward(fwd);
            backwardData = new convolution_backward_data(bwdData);
            backwardWeights = new convolution_backward_weights(bwdWeights);
            src = new Bound(srcMd);
            dst = new Bound(dstMd);
            diffDst = new Bound(dstMd);
            diffSrc = new Bound(srcMd);
            userWeights = new Bound(userWeightsMd);
            userDiffWeights = new Bound(userWeightsMd);
            bias = withBias ? new Bound(biasMd) : null;
            diffBias = withBias ? new Bound(biasMd) : null;
            forwardWeights = fwd.weights_desc().equals(userWeightsMd) ? null : new memory(fwd.weights_desc(), ENGINE);
            backwardSharesForwardWeights = bwdData.weights_desc().equals(fwd.weights_desc());
            backwardDataWeights = bwdData.weights_desc().equals(userWeightsMd) ? null
                    : backwardSharesForwardWeights ? forwardWeights : new memory(bwdData.weights_desc(), ENGINE);
            diffWeights = bwdWeights.diff_weights_desc().equals(userWeightsMd) ? null : new memory(bwdWeights.diff_weights_desc(), ENGINE);
            toForwardWeights = forwardWeights == null ? null : new reorder(userWeights.memory, forwardWeights);
            toBackwardDataWeights = backwardDataWeights == null ? null : new reorder(userWeights.memory, backwardDataWeights);
            fromDiffWeights = diffWeights == null ? null : new reorder(diffWeights, userDiffWeights.memory);
            nchw = shape.nchw ? new NchwBoundary(new long[]{shape.n, shape.c, shape.h, shape.w},
                    new long[]{shape.n, nOut, out[0], out[1]}) : null;
            LOG.debug("{}: OneDNN convolution for input {} ({}): {} / {} / {}", layerId(), Arrays.toString(outShape),
                    shape.nchw ? "NCHW through NHWC" : "NHWC",
                    fwd.impl_info_str().getString(), bwdData.impl_info_str().getString(), bwdWeights.impl_info_str().getString());
        }

        void forward(INDArray x, INDArray weights, INDArray b, INDArray z) {
            memory w = userWeights.to(weights);
            if (forwardWeights != null) {
                toForwardWeights.execute(stream, w, forwardWeights);
                w = forwardWeights;
                forwardWeightsCurrent = true;
            }
            memory source = nchw == null ? src.to(x) : nchw.toNhwc(x, nchw.source);
            memory destination = nchw == null ? dst.to(z) : nchw.destination;
            forwardArgs.put(DNNL_ARG_SRC, source).put(DNNL_ARG_WEIGHTS, w).put(DNNL_ARG_DST, destination);
            if (b != null) {
                forwardArgs.put(DNNL_ARG_BIAS, bias.to(b));
            }
            forward.execute(stream, forwardArgs);
            if (nchw != null) {
                nchw.toNchw(destination, z);
            }
            stream._wait();
        }

        void backward(INDArray x, INDArray weights, INDArray delta, INDArray epsilonOut, INDArray weightGrad, INDArray biasGrad) {
            memory w = userWeights.to(weights);
            if (backwardDataWeights != null) {
                if (!(backwardSharesForwardWeights && forwardWeightsCurrent)) {
                    toBackwardDataWeights.execute(stream, w, backwardDataWeights);
                }
                w = backwardDataWeights;
            }
            forwardWeightsCurrent = false;
            memory dy = nchw == null ? diffDst.to(delta) : nchw.toNhwc(delta, nchw.destination);
            memory dx = nchw == null ? diffSrc.to(epsilonOut) : nchw.diffSource;
            backwardDataArgs.put(DNNL_ARG_DIFF_DST, dy).put(DNNL_ARG_WEIGHTS, w).put(DNNL_ARG_DIFF_SRC, dx);
            backwardData.execute(stream, backwardDataArgs);
            if (nchw != null) {
                nchw.toNchw(dx, epsilonOut);
            }
            memory userDw = userDiffWeights.to(weightGrad);
            memory source = nchw == null ? src.to(x) : nchw.toNhwc(x, nchw.source);
            backwardWeightsArgs.put(DNNL_ARG_SRC, source).put(DNNL_ARG_DIFF_DST, dy)
                    .put(DNNL_ARG_DIFF_WEIGHTS, diffWeights == null ? userDw : diffWeights);
            if (biasGrad != null) {
                backwardWeightsArgs.put(DNNL_ARG_DIFF_BIAS, diffBias.to(biasGrad));
            }
            backwardWeights.execute(stream, backwardWeightsArgs);
            if (diffWeights != null) {
                fromDiffWeights.execute(stream, diffWeights, userDw);
            }
            stream._wait();
        }
    }

    /**
     * The NHWC memories an NCHW layer's convolutions run on, and the conversions to and from the caller's
     * NCHW arrays. OneDNN's NHWC kernels beat its plain-NCHW ones (im2col and a matrix product) by 2-7x on
     * resnet20's and lenet5's shapes, and the conversions cost a few percent of that. The NHWC memories
     * live in buffers of the calling thread ({@link Scratch}), shared by every layer it runs: nothing
     * is kept between the forward and the backward pass (the backward converts the input again).
     */
    private final class NchwBoundary {
        final memory source;
        final memory destination;
        final memory diffSource;
        private final Bound userSource;
        private final Bound userDestination;
        private final reorder sourceToNhwc;
        private final reorder destinationToNhwc;
        private final reorder destinationToNchw;
        private final reorder sourceToNchw;
        private final long sourceBytes;
        private final long destinationBytes;

        NchwBoundary(long[] sourceDims, long[] destinationDims) {
            memory.desc nhwcSource = desc(sourceDims, memory.format_tag.nhwc);
            memory.desc nhwcDestination = desc(destinationDims, memory.format_tag.nhwc);
            memory.desc nchwSource = desc(sourceDims, memory.format_tag.nchw);
            memory.desc nchwDestination = desc(destinationDims, memory.format_tag.nchw);
            source = new memory(nhwcSource, ENGINE, (Pointer) null);
            destination = new memory(nhwcDestination, ENGINE, (Pointer) null);
            diffSource = new memory(nhwcSource, ENGINE, (Pointer) null);
            userSource = new Bound(nchwSource);
            userDestination = new Bound(nchwDestination);
            sourceToNhwc = new reorder(userSource.memory, source);
            destinationToNhwc = new reorder(userDestination.memory, destination);
            destinationToNchw = new reorder(destination, userDestination.memory);
            sourceToNchw = new reorder(diffSource, userSource.memory);
            sourceBytes = nhwcSource.get_size();
            destinationBytes = nhwcDestination.get_size();
            Scratch scratch = Scratch.of(sourceBytes, destinationBytes);
            source.set_data_handle(scratch.source);
            destination.set_data_handle(scratch.destination);
            diffSource.set_data_handle(scratch.diffSource);
        }

        /** {@code nhwc} (this boundary's source or destination memory) holding {@code a}'s values. */
        memory toNhwc(INDArray a, memory nhwc) {
            point();
            boolean isSource = nhwc == source;
            Bound user = isSource ? userSource : userDestination;
            (isSource ? sourceToNhwc : destinationToNhwc).execute(stream, user.to(a), nhwc);
            return nhwc;
        }

        /** Writes {@code nhwc} (destination or diff-source memory) into the NCHW array {@code a}. */
        void toNchw(memory nhwc, INDArray a) {
            if (nhwc == destination) {
                destinationToNchw.execute(stream, nhwc, userDestination.to(a));
            } else {
                sourceToNchw.execute(stream, nhwc, userSource.to(a));
            }
        }

        /** Points the memories at the calling thread's buffers (another thread may run this graph later). */
        private void point() {
            Scratch scratch = Scratch.of(sourceBytes, destinationBytes);
            if (source.get_data_handle().address() != scratch.source.address()
                    || destination.get_data_handle().address() != scratch.destination.address()
                    || diffSource.get_data_handle().address() != scratch.diffSource.address()) {
                source.set_data_handle(scratch.source);
                destination.set_data_handle(scratch.destination);
                diffSource.set_data_handle(scratch.diffSource);
            }
        }
    }

    /**
     * A thread's NHWC buffers for NCHW layers: one of each role, grown to the largest layer that thread
     * has run (a grown buffer replaces the old one, which every layer re-points to on its next call).
     */
    private static final class Scratch {
        private static final ThreadLocal<Scratch> OF_THREAD = ThreadLocal.withInitial(Scratch::new);
        private org.bytedeco.javacpp.BytePointer source = new org.bytedeco.javacpp.BytePointer(64L);
        private org.bytedeco.javacpp.BytePointer destination = new org.bytedeco.javacpp.BytePointer(64L);
        private org.bytedeco.javacpp.BytePointer diffSource = new org.bytedeco.javacpp.BytePointer(64L);

        static Scratch of(long sourceBytes, long destinationBytes) {
            Scratch scratch = OF_THREAD.get();
            if (scratch.source.capacity() < sourceBytes) {
                scratch.source = new org.bytedeco.javacpp.BytePointer(sourceBytes);
                scratch.diffSource = new org.bytedeco.javacpp.BytePointer(sourceBytes);
            }
            if (scratch.destination.capacity() < destinationBytes) {
                scratch.destination = new org.bytedeco.javacpp.BytePointer(destinationBytes);
            }
            return scratch;
        }
    }

    private static memory.desc desc(long[] dims, memory.format_tag tag) {
        return new memory.desc(dims, memory.data_type.f32, tag);
    }
}
