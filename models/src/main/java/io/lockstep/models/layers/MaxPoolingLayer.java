package io.lockstep.models.layers;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ConvolutionUtils;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * DL4J's max-pooling layer, with a backward pass that does not search the windows again. DL4J's
 * backward ({@code maxpool2d_bp}, through OneDNN or libnd4j) runs the pooling forward once more to find
 * where each maximum came from. Here the training forward records, for every output, the input
 * position of its maximum, and the backward adds each output's gradient at that position: one pass
 * over the input and one over the output per step. Inference records nothing.
 *
 * <p>The forward output is DL4J's to the bit: of equal values in a window the first in row-major
 * window order takes the maximum (and its gradient), and padded positions never take it. So is the
 * gradient of windows that do not overlap (stride at least the kernel: lenet5, vgg). Where windows
 * overlap and three or more share a maximum, their gradients are summed in output order (row by row),
 * as libnd4j and OneDNN's plain-layout kernel do; OneDNN's blocked kernels, which DL4J runs for
 * several channels on AVX-512 and for NHWC, sum them in groups of output columns whose size depends
 * on the CPU, so that sum may differ in its last bit from DL4J's on the same machine (and DL4J's
 * differs between machines). A window holding NaN or infinities may pool to another value or position
 * than OneDNN's (which never takes a NaN and starts from the lowest finite float): training has
 * diverged by then.
 *
 * <p>The kernels copy one image at a time between the host memory of float arrays on ND4J's CPU backend
 * and heap arrays, where the loops run (and vectorize) as plain Java. Any other
 * backend or data type, dilation, {@code Same}/{@code Causal} convolution mode, or a pooling type other
 * than max runs DL4J's layer unchanged. Belongs to its graph's thread, like every DL4J layer; the
 * index buffer is the layer's own and is reused while the shapes stay the same.
 */
public class MaxPoolingLayer extends SubsamplingLayer {
    /** For each output of the last training forward pass, the C-order index of its maximum in its image of the input. */
    private int[] argmax = new int[0];
    /** The input {@link #argmax} was recorded for (compared by identity only), or null. */
    private INDArray argmaxInput;
    /** One image of the input (or its gradient) and of the output (or its gradient), in heap memory where loops run fast. */
    private float[] imageIn = new float[0];
    private float[] imageOut = new float[0];
    /** Running maxima and their positions of one NHWC pixel's channels. */
    private float[] channelMax = new float[0];
    private int[] channelArg = new int[0];

    public MaxPoolingLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        if (!runsHere(input)) {
            argmaxInput = null;
            return super.activate(training, workspaceMgr);
        }
        Window window = window(input);
        INDArray output = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, DataType.FLOAT, window.outputShape(), 'c');
        int[] positions = null;
        if (training) {
            positions = argmaxBuffer(window.outputLength());
        }
        pool(window, HostFloats.readable(input), HostFloats.writable(output), positions);
        argmaxInput = training ? input : null;
        return output;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        if (!runsHere(input) || epsilon.dataType() != DataType.FLOAT) {
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        Window window = window(input);
        if (!Arrays.equals(epsilon.shape(), window.outputShape())) {
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        if (argmaxInput != input) {
            // The maxima of this input were not recorded (an inference forward ran last): find them now.
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                INDArray scratch = Nd4j.createUninitializedDetached(DataType.FLOAT, window.outputShape());
                pool(window, HostFloats.readable(input), HostFloats.writable(scratch), argmaxBuffer(window.outputLength()));
            }
            argmaxInput = input;
        }
        INDArray gradient = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, DataType.FLOAT, input.shape(), 'c');
        scatter(window, HostFloats.readable(epsilon), HostFloats.writable(gradient), argmax);
        return new Pair<>(new DefaultGradient(), gradient);
    }

    @Override
    public void clear() {
        super.clear();
        argmaxInput = null;
    }

    /** Whether this layer's kernels compute {@code x}'s pooling (otherwise DL4J's layer does). */
    private boolean runsHere(INDArray x) {
        org.deeplearning4j.nn.conf.layers.SubsamplingLayer conf = layerConf();
        ConvolutionMode mode = conf.getConvolutionMode();
        int[] kernel = conf.getKernelSize();
        int[] padding = conf.getPadding();
        int[] dilation = conf.getDilation();
        return conf.getPoolingType() == PoolingType.MAX
                && (mode == ConvolutionMode.Truncate || mode == ConvolutionMode.Strict)
                && dilation[0] == 1 && dilation[1] == 1
                // a wider padding gives windows without a single real value
                && padding[0] < kernel[0] && padding[1] < kernel[1]
                && dataType == DataType.FLOAT && x.rank() == 4 && HostFloats.fits(x);
    }

    private Window window(INDArray x) {
        org.deeplearning4j.nn.conf.layers.SubsamplingLayer conf = layerConf();
        CNN2DFormat format = conf.getCnn2dDataFormat();
        boolean nhwc = format == CNN2DFormat.NHWC;
        int[] kernel = conf.getKernelSize();
        int[] stride = conf.getStride();
        int[] padding = conf.getPadding();
        // DL4J's own size rule, with its validation (Strict mode refuses sizes that do not divide).
        int[] out = ConvolutionUtils.getOutputSize(x, kernel, stride, padding, conf.getConvolutionMode(),
                conf.getDilation(), format);
        return new Window(nhwc, (int) x.size(0), (int) x.size(nhwc ? 3 : 1), (int) x.size(nhwc ? 1 : 2),
                (int) x.size(nhwc ? 2 : 3), out[0], out[1], kernel[0], kernel[1], stride[0], stride[1],
                padding[0], padding[1]);
    }

    private int[] argmaxBuffer(int length) {
        if (argmax.length != length) {
            argmax = new int[length];
        }
        return argmax;
    }

    /**
     * One image at a time: copied into heap memory (a bulk copy), pooled there, the output copied back.
     * {@code positions} (null for none) gets each output's maximum as an index into its image.
     */
    private void pool(Window w, FloatBuffer x, FloatBuffer y, int[] positions) {
        int inImage = w.imageLength();
        int outImage = w.outputImageLength();
        float[] in = imageIn = ensure(imageIn, inImage);
        float[] out = imageOut = ensure(imageOut, outImage);
        for (int n = 0; n < w.batch(); n++) {
            x.get(n * inImage, in, 0, inImage);
            if (w.nhwc()) {
                poolNhwc(w, in, out, positions, n * outImage);
            } else {
                poolNchw(w, in, out, positions, n * outImage);
            }
            y.put(n * outImage, out, 0, outImage);
        }
    }

    /**
     * 1 if {@code v > max}, else 0, without a branch: the sign of {@code max - v}, with a negative zero
     * (equal values of opposite zero signs) turned positive by adding +0. Exact for every pair of
     * finite values; for NaN or two equal infinities the answer is the NaN's sign bit.
     */
    private static int greater(float v, float max) {
        return Float.floatToRawIntBits((max - v) + 0f) >>> 31;
    }

    private static float[] ensure(float[] buffer, int length) {
        return buffer.length >= length ? buffer : new float[length];
    }

    /**
     * One plane at a time; each window scanned row by row, a value replacing the maximum only when
     * greater, so the first of equal values wins. The window is clipped to the map: padding never wins.
     * The position is chosen by arithmetic ({@link #greater}) and the value loaded from it: on real data
     * each comparison is a coin toss, and HotSpot compiles a comparison and selection to a branch that
     * mispredicts half the time (7.5 ms instead of ~2 for lenet5's first pool).
     */
    private static void poolNchw(Window w, float[] x, float[] y, int[] positions, int at) {
        if (w.kernelH() == 2 && w.kernelW() == 2 && w.strideH() == 2 && w.strideW() == 2
                && w.padH() == 0 && w.padW() == 0 && positions != null) {
            pool2x2(w, x, y, positions, at);
            return;
        }
        int inPlane = w.height() * w.width();
        int width = w.width();
        int out = 0;
        for (int p = 0; p < w.channels(); p++) {
            int in0 = p * inPlane;
            for (int i = 0; i < w.outH(); i++) {
                int top = i * w.strideH() - w.padH();
                int r0 = Math.max(top, 0);
                int r1 = Math.min(top + w.kernelH(), w.height());
                for (int j = 0; j < w.outW(); j++, out++) {
                    int left = j * w.strideW() - w.padW();
                    int c0 = Math.max(left, 0);
                    int c1 = Math.min(left + w.kernelW(), width);
                    int best = in0 + r0 * width + c0;
                    float max = x[best];
                    for (int r = r0; r < r1; r++) {
                        int row = in0 + r * width;
                        for (int c = c0; c < c1; c++) {
                            best += greater(x[row + c], max) * (row + c - best);
                            max = x[best];
                        }
                    }
                    y[out] = max;
                    if (positions != null) {
                        positions[at + out] = best;
                    }
                }
            }
        }
    }

    /**
     * The 2x2 stride-2 windows of lenet5 and vgg: the first of equal values in each row of the window,
     * then the second row's only if greater, which is the first of equal values in row-major order.
     */
    private static void pool2x2(Window w, float[] x, float[] y, int[] positions, int at) {
        int width = w.width();
        int inPlane = w.height() * width;
        int out = 0;
        for (int p = 0; p < w.channels(); p++) {
            for (int i = 0; i < w.outH(); i++) {
                int top = p * inPlane + 2 * i * width;
                int bottom = top + width;
                for (int j = 0; j < w.outW(); j++, out++) {
                    int t = top + 2 * j;
                    int b = bottom + 2 * j;
                    int upperAt = t + greater(x[t + 1], x[t]);
                    int lowerAt = b + greater(x[b + 1], x[b]);
                    int best = upperAt + greater(x[lowerAt], x[upperAt]) * (lowerAt - upperAt);
                    y[out] = x[best];
                    positions[at + out] = best;
                }
            }
        }
    }

    /**
     * One output pixel at a time, all channels side by side (they are contiguous): the window's
     * positions are visited in the same row-major order as in {@link #poolNchw}, so ties break alike.
     */
    private void poolNhwc(Window w, float[] x, float[] y, int[] positions, int at) {
        int channels = w.channels();
        if (channelMax.length != channels) {
            channelMax = new float[channels];
            channelArg = new int[channels];
        }
        float[] max = channelMax;
        int[] arg = channelArg;
        int out = 0;
        for (int i = 0; i < w.outH(); i++) {
            int top = i * w.strideH() - w.padH();
            int r0 = Math.max(top, 0);
            int r1 = Math.min(top + w.kernelH(), w.height());
            for (int j = 0; j < w.outW(); j++, out += channels) {
                int left = j * w.strideW() - w.padW();
                int c0 = Math.max(left, 0);
                int c1 = Math.min(left + w.kernelW(), w.width());
                int first = (r0 * w.width() + c0) * channels;
                System.arraycopy(x, first, max, 0, channels);
                for (int k = 0; k < channels; k++) {
                    arg[k] = first + k;
                }
                for (int r = r0; r < r1; r++) {
                    for (int c = c0; c < c1; c++) {
                        int pixel = (r * w.width() + c) * channels;
                        for (int k = 0; k < channels; k++) {
                            arg[k] += greater(x[pixel + k], max[k]) * (pixel + k - arg[k]);
                            max[k] = x[arg[k]];
                        }
                    }
                }
                System.arraycopy(max, 0, y, out, channels);
                if (positions != null) {
                    System.arraycopy(arg, 0, positions, at + out, channels);
                }
            }
        }
    }

    /**
     * Adds each output's gradient at its maximum onto zeros, one image at a time, in output order (for
     * NHWC, output order is each channel's row-major order too): a lone gradient is stored as DL4J
     * stores it (a negative zero becomes a positive one), and shared maxima sum in row-major output order.
     */
    private void scatter(Window w, FloatBuffer epsilon, FloatBuffer gradient, int[] positions) {
        int inImage = w.imageLength();
        int outImage = w.outputImageLength();
        float[] in = imageIn = ensure(imageIn, inImage);
        float[] out = imageOut = ensure(imageOut, outImage);
        for (int n = 0; n < w.batch(); n++) {
            epsilon.get(n * outImage, out, 0, outImage);
            Arrays.fill(in, 0, inImage, 0f);
            int at = n * outImage;
            for (int o = 0; o < outImage; o++) {
                in[positions[at + o]] += out[o];
            }
            gradient.put(n * inImage, in, 0, inImage);
        }
    }

    /** One pooling's geometry: input and output sizes, window, stride and top/left padding. */
    private record Window(boolean nhwc, int batch, int channels, int height, int width, int outH, int outW,
                          int kernelH, int kernelW, int strideH, int strideW, int padH, int padW) {
        long[] outputShape() {
            return nhwc ? new long[]{batch, outH, outW, channels} : new long[]{batch, channels, outH, outW};
        }

        int outputLength() {
            return batch * outputImageLength();
        }

        int imageLength() {
            return channels * height * width;
        }

        int outputImageLength() {
            return channels * outH * outW;
        }
    }
}
