package io.lockstep.models.layers;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.MaskState;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.BaseGraphVertex;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.scalar.RectifiedLinear;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.AddOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.bool.Or;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * {@code relu(a + b)} and its gradient, for {@link ResidualAddRelu}. DL4J's pair (an add vertex, a ReLU
 * layer) copies the first input into the sum, adds the second, writes the ReLU's output, and backward
 * builds the ReLU's gradient in two passes, then copies it once per input: here the forward reads both
 * inputs and writes the output once, and the backward reads the output and the incoming gradient once
 * and writes each input's gradient.
 *
 * <p>The gradient is the incoming one where the output is positive and that gradient times zero
 * elsewhere, as DL4J's ReLU computes it (a zero keeps the incoming gradient's sign; an infinite or NaN
 * gradient becomes NaN there). Values are DL4J's to the bit, except that an input summing to exactly
 * -0 gives +0 and a NaN sum keeps a NaN gradient: training has diverged by then.
 *
 * <p>Each input gets its own gradient array: DL4J's graph sums the gradients of a vertex that feeds
 * several others in place into the first one it received ({@code ComputationGraph.calcBackpropGradients}),
 * and the block's input usually feeds the next convolution too, so one shared array would be changed
 * under the other input.
 *
 * <p>Dense float arrays on the CPU backend run a Java loop over the host memory; anything else (other
 * backends, data types, views) runs ND4J ops. Belongs to its graph's thread, like every DL4J vertex.
 */
public class ResidualAddReluVertex extends BaseGraphVertex {
    private static final long serialVersionUID = 1L;
    /** Elements per heap block: the loops run on heap arrays, which HotSpot vectorizes, filled by bulk copies. */
    private static final int BLOCK = 4096;

    /** The training forward's output, whose positive elements are where the gradient passes. */
    private transient INDArray output;
    private transient float[] first;
    private transient float[] second;

    public ResidualAddReluVertex(ComputationGraph graph, String name, int vertexIndex, DataType dataType) {
        super(graph, name, vertexIndex, null, null, dataType);
    }

    @Override
    public boolean hasLayer() {
        return false;
    }

    @Override
    public Layer getLayer() {
        return null;
    }

    @Override
    public INDArray doForward(boolean training, LayerWorkspaceMgr workspaceMgr) {
        if (!canDoForward()) {
            throw new IllegalStateException("Cannot do forward pass: inputs not set");
        }
        INDArray a = inputs[0];
        INDArray b = inputs[1];
        if (!Arrays.equals(a.shape(), b.shape())) {
            throw new IllegalStateException(vertexName + ": a residual sum adds inputs of one shape, got "
                    + Arrays.toString(a.shape()) + " and " + Arrays.toString(b.shape()));
        }
        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, dataType, a.shape(), 'c');
        if (hostFloats(a, b)) {
            forward(HostFloats.readable(a), HostFloats.readable(b), HostFloats.writable(out), (int) out.length());
        } else {
            Nd4j.getExecutioner().exec(new AddOp(a.castTo(dataType), b.castTo(dataType), out));
            Nd4j.getExecutioner().exec(new RectifiedLinear(out, out));
        }
        output = training ? out : null;
        return out;
    }

    @Override
    public Pair<Gradient, INDArray[]> doBackward(boolean tbptt, LayerWorkspaceMgr workspaceMgr) {
        if (!canDoBackward()) {
            throw new IllegalStateException("Cannot do backward pass: errors not set");
        }
        if (output == null) {
            throw new IllegalStateException(vertexName + ": backward pass without a training forward pass");
        }
        INDArray toFirst = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, dataType, output.shape(), 'c');
        INDArray toSecond = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, dataType, output.shape(), 'c');
        if (hostFloats(output, epsilon)) {
            backward(HostFloats.readable(output), HostFloats.readable(epsilon), HostFloats.writable(toFirst),
                    HostFloats.writable(toSecond), (int) output.length());
        } else {
            VectorizedReLU.gradient(output, epsilon.castTo(dataType), toFirst);
            toSecond.assign(toFirst);
        }
        return new Pair<>(null, new INDArray[] {toFirst, toSecond});
    }

    private boolean hostFloats(INDArray x, INDArray y) {
        return dataType == DataType.FLOAT && HostFloats.fits(x, y);
    }

    private void forward(FloatBuffer a, FloatBuffer b, FloatBuffer out, int length) {
        float[] x = first();
        float[] y = second();
        for (int start = 0; start < length; start += BLOCK) {
            int n = Math.min(BLOCK, length - start);
            a.get(start, x, 0, n);
            b.get(start, y, 0, n);
            for (int i = 0; i < n; i++) {
                x[i] = Math.max(x[i] + y[i], 0f);
            }
            out.put(start, x, 0, n);
        }
    }

    /**
     * {@code ε · step(out)} into both gradients. The step is {@code min(max(out · 2^252, 0), 1)}: 1 for any
     * positive output (the smallest subnormal times 2^252 is above 1), 0 for a zero one; a min and a max
     * HotSpot vectorizes where a comparison compiles to a branch that mispredicts on half the elements.
     */
    private void backward(FloatBuffer out, FloatBuffer epsilon, FloatBuffer toFirst, FloatBuffer toSecond, int length) {
        float[] x = first();
        float[] e = second();
        for (int start = 0; start < length; start += BLOCK) {
            int n = Math.min(BLOCK, length - start);
            out.get(start, x, 0, n);
            epsilon.get(start, e, 0, n);
            for (int i = 0; i < n; i++) {
                x[i] = e[i] * Math.min(Math.max(x[i] * 0x1p126f * 0x1p126f, 0f), 1f);
            }
            toFirst.put(start, x, 0, n);
            toSecond.put(start, x, 0, n);
        }
    }

    private float[] first() {
        if (first == null) {
            first = new float[BLOCK];
        }
        return first;
    }

    private float[] second() {
        if (second == null) {
            second = new float[BLOCK];
        }
        return second;
    }

    @Override
    public void clear() {
        super.clear();
        output = null;
    }

    @Override
    public void clearVertex() {
        super.clearVertex();
        output = null;
    }

    @Override
    public void setBackpropGradientsViewArray(INDArray backpropGradientsViewArray) {
        if (backpropGradientsViewArray != null) {
            throw new IllegalStateException(vertexName + " has no parameters, so no gradient view");
        }
    }

    /** As DL4J's element-wise vertex: no mask if either input has none, else their union. */
    @Override
    public Pair<INDArray, MaskState> feedForwardMaskArrays(INDArray[] maskArrays, MaskState currentMaskState,
                                                           int minibatchSize) {
        if (maskArrays == null || maskArrays[0] == null || maskArrays[1] == null) {
            return new Pair<>(null, currentMaskState);
        }
        INDArray union = Nd4j.createUninitialized(DataType.BOOL, maskArrays[0].shape());
        Nd4j.getExecutioner().exec(new Or(maskArrays[0].castTo(DataType.BOOL), maskArrays[1].castTo(DataType.BOOL), union));
        return new Pair<>(union.castTo(Nd4j.defaultFloatingPointType()), currentMaskState);
    }

    @Override
    public String toString() {
        return "ResidualAddReluVertex(id=" + vertexIndex + ",name=\"" + vertexName + "\")";
    }
}
