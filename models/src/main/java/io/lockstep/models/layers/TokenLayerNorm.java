package io.lockstep.models.layers;

import io.lockstep.models.torch.TorchLayouts.Layout;
import io.lockstep.models.torch.TorchLayouts.TorchTensor;
import io.lockstep.models.torch.TorchMapped;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.nd4j.shade.jackson.annotation.JsonProperty;

import java.util.List;
import java.util.Map;

/**
 * LayerNorm over each token's features, as {@code torch.nn.LayerNorm(width, eps)}: per token,
 * {@code (x - mean) / sqrt(biased variance + eps) * weight + bias}. Parameters {@code weight} and
 * {@code bias} of shape {@code [width]}, initialized to 1 and 0.
 */
public final class TokenLayerNorm extends TokenLayer implements TorchMapped {
    public static final String WEIGHT = "weight";
    public static final String BIAS = "bias";

    @JsonProperty
    private double eps;

    TokenLayerNorm() {
    }

    public TokenLayerNorm(int width, int tokens, double eps) {
        super(width, tokens, 0);
        this.eps = eps;
    }

    public double eps() {
        return eps;
    }

    @Override
    protected Object[] sizes() {
        return new Object[]{eps};
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        params.addBiasParam(WEIGHT, width);
        params.addBiasParam(BIAS, width);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        params.get(WEIGHT).assign(1);
        params.get(BIAS).assign(0);
    }

    @Override
    public SDVariable defineLayer(SameDiff sd, SDVariable input, Map<String, SDVariable> params, SDVariable mask) {
        SDVariable centred = input.sub(input.mean(true, 1));
        SDVariable variance = centred.mul(centred).mean(true, 1);
        SDVariable normalized = centred.div(sd.math.sqrt(variance.add(eps)));
        return normalized.mul(params.get(WEIGHT).reshape(1, width, 1)).add(params.get(BIAS).reshape(1, width, 1));
    }

    @Override
    public List<TorchTensor> torchTensors() {
        return List.of(TorchTensor.of(WEIGHT, "weight", Layout.VECTOR), TorchTensor.of(BIAS, "bias", Layout.VECTOR));
    }

    @Override
    TokenKernel kernel() {
        return new Kernel();
    }

    /**
     * Per token row: {@code xhat = (x - mean) * invStd}, {@code y = xhat * weight + bias}; backward
     * {@code dx = invStd * (g - mean(g) - xhat * mean(g * xhat))} with {@code g = dy * weight}.
     */
    private final class Kernel extends TokenKernel {
        private INDArray normalized; // xhat [rows, width]
        private INDArray invStd;     // [rows, 1]

        @Override
        INDArray forward(INDArray input, Map<String, INDArray> params, LayerWorkspaceMgr workspaces) {
            long rows = input.size(0) * tokens;
            normalized = toRows(input, buffer("normalized", input.dataType(), rows, width));
            normalized.subiColumnVector(normalized.mean(true, 1));
            invStd = buffer("invStd", input.dataType(), rows, 1);
            invStd.assign(normalized.mul(normalized).mean(true, 1).addi(eps));
            Transforms.sqrt(invStd, false).rdivi(1);
            normalized.muliColumnVector(invStd);
            INDArray out = normalized.mulRowVector(row(params.get(WEIGHT))).addiRowVector(row(params.get(BIAS)));
            return toNcw(out, tokens, workspaces, ArrayType.ACTIVATIONS);
        }

        @Override
        INDArray backward(INDArray epsilon, Map<String, INDArray> params, Map<String, INDArray> gradients,
                          LayerWorkspaceMgr workspaces) {
            long rows = epsilon.size(0) * tokens;
            INDArray dy = toRows(epsilon, Nd4j.createUninitialized(epsilon.dataType(), rows, width));
            store(gradients.get(WEIGHT), dy.mul(normalized).sum(0));
            store(gradients.get(BIAS), dy.sum(0));
            INDArray g = dy.muliRowVector(row(params.get(WEIGHT)));
            INDArray projection = g.mul(normalized).mean(true, 1);
            INDArray dx = g.subiColumnVector(g.mean(true, 1)).subi(normalized.mulColumnVector(projection))
                    .muliColumnVector(invStd);
            return toNcw(dx, tokens, workspaces, ArrayType.ACTIVATION_GRAD);
        }
    }
}
