package io.lockstep.models.layers;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.samediff.SameDiffLayer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * DL4J's SameDiff layer with its backward pass corrected. In DL4J/ND4J 1.0.0-M2.1,
 * {@code SameDiff.calculateGradients} as DL4J's SameDiff layer drives it returns exactly twice the
 * gradients (of the input and of every parameter) for the incoming gradient: the external gradient is
 * applied twice. Gradients are linear in the incoming gradient, so halving it gives the true ones;
 * {@code TransformerLayersGradientCheckTest} checks the result against finite differences and fails if
 * a new DL4J version changes this.
 */
final class SameDiffLayerImpl extends SameDiffLayer {

    SameDiffLayerImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        return super.backpropGradient(epsilon.mul(0.5), workspaceMgr);
    }
}
