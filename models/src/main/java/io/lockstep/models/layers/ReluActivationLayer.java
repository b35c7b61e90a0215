package io.lockstep.models.layers;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.ActivationLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.scalar.RectifiedLinear;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * DL4J's activation layer for a plain ReLU, without its copies. DL4J's layer copies its input before
 * applying the ReLU in place (forward), and in the backward pass copies the input again, builds the
 * gradient outside the layer's workspace and copies it in: about seven passes over a tensor per step.
 * Here the forward writes {@code max(x, 0)} straight into the output and the backward writes
 * {@code step(x) · ε} (as {@link VectorizedReLU} computes it) straight into the gradient: three. The
 * values are DL4J's ReLU's and {@link VectorizedReLU}'s to the bit; the input is never modified.
 *
 * <p>Any other activation function, or an epsilon of another shape, runs DL4J's path. Belongs to its
 * graph's thread, like every DL4J layer.
 */
public class ReluActivationLayer extends ActivationLayer {

    public ReluActivationLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        if (!VectorizedReLU.isPlainRelu(layerConf().getActivationFn())) {
            return super.activate(training, workspaceMgr);
        }
        assertInputSet(false);
        INDArray output = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, input.dataType(), input.shape(), 'c');
        Nd4j.getExecutioner().exec(new RectifiedLinear(input, output));
        return output;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        if (!VectorizedReLU.isPlainRelu(layerConf().getActivationFn()) || input == null
                || !Arrays.equals(input.shape(), epsilon.shape())) {
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        INDArray gradient = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, input.dataType(), input.shape(), 'c');
        return new Pair<>(new DefaultGradient(), VectorizedReLU.gradient(input, epsilon, gradient));
    }
}
