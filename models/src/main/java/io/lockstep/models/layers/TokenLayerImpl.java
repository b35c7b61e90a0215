package io.lockstep.models.layers;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.samediff.SameDiffLayer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Runs a {@link TokenLayer} with its {@link TokenKernel}: forward and backward in plain ND4J ops, instead
 * of the SameDiff graph DL4J's SameDiff layer would build from {@link TokenLayer#defineLayer}. Keeps
 * DL4J's SameDiff-layer parameter handling (parameter and gradient views, keys, layout), so parameters,
 * checkpoints and imported weights are unchanged.
 *
 * <p>Why not SameDiff: in DL4J 1.0.0-M2.1 its layer re-runs the whole forward graph inside every backward
 * pass, interprets the graph op by op, and differentiates broadcasts with generic reductions
 * ({@code multiply_bp}); for vit_small this made a training step several times slower than the matrix
 * products it contains. (It also applies the incoming gradient twice.)
 */
final class TokenLayerImpl extends SameDiffLayer {
    private transient TokenKernel kernel;

    TokenLayerImpl(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    private TokenKernel kernel() {
        if (kernel == null) {
            kernel = ((TokenLayer) conf().getLayer()).kernel();
        }
        return kernel;
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        return kernel().forward(input, paramTable, workspaceMgr);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        INDArray inputGradient = kernel().backward(epsilon, paramTable, gradTable, workspaceMgr);
        Gradient g = new DefaultGradient();
        for (String key : paramTable.keySet()) {
            g.gradientForVariable().put(key, gradTable.get(key));
        }
        return new Pair<>(g, inputGradient);
    }
}
