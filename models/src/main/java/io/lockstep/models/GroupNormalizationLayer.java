package io.lockstep.models;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.BaseLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastAddOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastSubOp;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.Arrays;

/**
 * The layer of {@link GroupNormalization}. Forward: per example and group, x̂ = (x − μ)/√(σ² + eps)
 * with the group's mean μ and biased variance σ², y = γ x̂ + β per channel. Backward, with dy the
 * gradient of the loss (summed over the minibatch, DL4J's convention) and M the size of a group:
 * dβ = Σ dy, dγ = Σ dy·x̂ over examples and pixels; with g = γ·dy,
 * dx = (g − mean_group(g) − x̂·mean_group(g·x̂)) / √(σ² + eps). The backward recomputes x̂ from the
 * layer's input (cheap, and nothing is cached across the forward/backward workspaces).
 *
 * <p>Owned by the thread that trains its graph, like every DL4J layer.
 */
public class GroupNormalizationLayer extends BaseLayer<GroupNormalization> {

    public GroupNormalizationLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        Normalized n = normalize(input.castTo(dataType));
        INDArray y = n.xhat.reshape('c', input.shape());
        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, dataType, input.shape(), 'c');
        Nd4j.getExecutioner().exec(new BroadcastMulOp(y, gamma(), out, 1));
        Nd4j.getExecutioner().exec(new BroadcastAddOp(out, vector(GroupNormalization.BETA), out, 1));
        return out;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        long[] shape = input.shape();
        Normalized n = normalize(input.castTo(dataType));
        INDArray dy = epsilon.castTo(dataType).dup('c');
        INDArray xhat = n.xhat.reshape('c', shape);

        INDArray dGamma = gradientViews.get(GroupNormalization.GAMMA);
        INDArray dBeta = gradientViews.get(GroupNormalization.BETA);
        dBeta.assign(dy.sum(0, 2, 3).reshape(dBeta.shape()));
        dGamma.assign(dy.mul(xhat).sum(0, 2, 3).reshape(dGamma.shape()));

        INDArray g = Nd4j.createUninitialized(dataType, shape, 'c');
        Nd4j.getExecutioner().exec(new BroadcastMulOp(dy, gamma(), g, 1));
        INDArray grouped = g.reshape('c', n.xhat.shape());               // [N, G, M]
        INDArray meanG = grouped.mean(2);                                // [N, G]
        INDArray meanGx = grouped.mul(n.xhat).mean(2);                   // [N, G]
        INDArray dx = n.xhat.dup('c');
        Nd4j.getExecutioner().exec(new BroadcastMulOp(dx, meanGx, dx, 0, 1));
        dx.rsubi(grouped);
        Nd4j.getExecutioner().exec(new BroadcastSubOp(dx, meanG, dx, 0, 1));
        Nd4j.getExecutioner().exec(new BroadcastMulOp(dx, n.invStd, dx, 0, 1));

        INDArray epsilonOut = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, dataType, shape, 'c');
        epsilonOut.assign(dx.reshape('c', shape));
        Gradient gradient = new DefaultGradient();
        gradient.setGradientFor(GroupNormalization.GAMMA, dGamma);
        gradient.setGradientFor(GroupNormalization.BETA, dBeta);
        this.gradient = gradient;
        return new Pair<>(gradient, epsilonOut);
    }

    /** x̂ in the grouped shape [N, G, M] and 1/√(σ² + eps) as [N, G]. */
    private Normalized normalize(INDArray x) {
        if (x.rank() != 4) {
            throw new IllegalArgumentException(layerId() + ": GroupNorm expects NCHW activations, got shape "
                    + Arrays.toString(x.shape()));
        }
        int groups = layerConf().getGroups();
        long n = x.size(0);
        long perGroup = x.length() / (n * groups);
        INDArray grouped = x.dup('c').reshape('c', n, groups, perGroup);
        INDArray mean = grouped.mean(2);
        Nd4j.getExecutioner().exec(new BroadcastSubOp(grouped, mean, grouped, 0, 1)); // centred in place
        INDArray variance = grouped.mul(grouped).mean(2);
        INDArray invStd = Transforms.pow(variance.addi(layerConf().getEps()), -0.5, false);
        Nd4j.getExecutioner().exec(new BroadcastMulOp(grouped, invStd, grouped, 0, 1));
        return new Normalized(grouped, invStd);
    }

    private INDArray gamma() {
        return vector(GroupNormalization.GAMMA);
    }

    /** A [1, C] parameter as a length-C vector for the broadcast ops. */
    private INDArray vector(String key) {
        INDArray param = getParam(key);
        return param.reshape(param.length());
    }

    private record Normalized(INDArray xhat, INDArray invStd) {
    }

    @Override
    public boolean isPretrainLayer() {
        return false;
    }

    @Override
    public Type type() {
        return Type.NORMALIZATION;
    }
}
