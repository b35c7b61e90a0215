package io.lockstep.models.layers;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.layers.feedforward.dense.DenseLayer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * DL4J's dense layer whose backward pass does not compute the forward pass again. DL4J's
 * {@code BaseLayer.backpropGradient} recomputes the pre-activation {@code z = xW + b} (a full
 * matrix product: a third of the layer's training cost) only to take the activation's derivative,
 * because the forward pass applied the activation to {@code z} in place. For a plain ReLU the
 * derivative reads only where {@code z > 0}, and the forward output {@code relu(z)} is positive at
 * exactly those elements, so the backward pass takes that output instead: same gradients, bit for
 * bit. The output is only reused for the step whose forward pass produced it (same input array, a
 * training pass, no layer normalization, no mask); anything else runs DL4J's path.
 *
 * <p>Lives in the graph's activation workspace like DL4J's own output; the graph belongs to one
 * thread, so does this layer.
 */
public class ReluDenseLayer extends DenseLayer {
    private INDArray trainingOutput;
    private INDArray trainingInput;

    public ReluDenseLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        INDArray output = super.activate(training, workspaceMgr);
        boolean reusable = training && maskArray == null && !hasLayerNorm() && VectorizedReLU.isPlainRelu(layerConf().getActivationFn());
        trainingOutput = reusable ? output : null;
        trainingInput = reusable ? input : null;
        return output;
    }

    @Override
    protected Pair<INDArray, INDArray> preOutputWithPreNorm(boolean training, boolean forBackprop, LayerWorkspaceMgr workspaceMgr) {
        INDArray output = trainingOutput;
        boolean sameStep = output != null && forBackprop && training && input == trainingInput && maskArray == null;
        trainingOutput = null;
        trainingInput = null;
        if (sameStep) {
            // Stands in for z: the ReLU derivative reads only its sign (positive here exactly where z is).
            return new Pair<>(output, output);
        }
        return super.preOutputWithPreNorm(training, forBackprop, workspaceMgr);
    }

    @Override
    public void clear() {
        super.clear();
        trainingOutput = null;
        trainingInput = null;
    }
}
