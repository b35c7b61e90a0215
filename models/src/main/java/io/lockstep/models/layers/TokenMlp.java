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
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.nd4j.shade.jackson.annotation.JsonProperty;

import java.util.List;
import java.util.Map;

/**
 * The transformer's per-token MLP, torchvision's {@code MLPBlock}: linear {@code width -> hidden}, GELU,
 * linear {@code hidden -> width}. The GELU is the exact one PyTorch uses by default,
 * {@code x * (1 + erf(x / sqrt 2)) / 2}, not the tanh or sigmoid approximations DL4J's GELU
 * activations compute (they differ by up to ~1e-3, too much for logits equal to 1e-4).
 * Weights are stored as PyTorch's {@code [out, in]}.
 */
public final class TokenMlp extends TokenLayer implements TorchMapped {
    public static final String FC1_WEIGHT = "fc1Weight";
    public static final String FC1_BIAS = "fc1Bias";
    public static final String FC2_WEIGHT = "fc2Weight";
    public static final String FC2_BIAS = "fc2Bias";

    @JsonProperty
    private int hidden;

    TokenMlp() {
    }

    public TokenMlp(int width, int tokens, int hidden, double weightDecay) {
        super(width, tokens, weightDecay);
        this.hidden = hidden;
    }

    public int hidden() {
        return hidden;
    }

    @Override
    protected Object[] sizes() {
        return new Object[]{hidden};
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        params.addWeightParam(FC1_WEIGHT, hidden, width);
        params.addBiasParam(FC1_BIAS, hidden);
        params.addWeightParam(FC2_WEIGHT, width, hidden);
        params.addBiasParam(FC2_BIAS, width);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        xavierUniform(params.get(FC1_WEIGHT));
        params.get(FC1_BIAS).assign(0);
        xavierUniform(params.get(FC2_WEIGHT));
        params.get(FC2_BIAS).assign(0);
    }

    @Override
    public SDVariable defineLayer(SameDiff sd, SDVariable input, Map<String, SDVariable> params, SDVariable mask) {
        SDVariable x = input.permute(0, 2, 1).reshape(-1, width);
        SDVariable h = sd.mmul(x, params.get(FC1_WEIGHT), false, true, false).add(params.get(FC1_BIAS));
        SDVariable gelu = h.mul(sd.math.erf(h.mul(1.0 / Math.sqrt(2.0))).add(1.0)).mul(0.5);
        SDVariable out = sd.mmul(gelu, params.get(FC2_WEIGHT), false, true, false).add(params.get(FC2_BIAS));
        return out.reshape(-1, tokens, width).permute(0, 2, 1);
    }

    /** torchvision's MLPBlock is a Sequential: the linears are its modules 0 and 3. */
    @Override
    public List<TorchTensor> torchTensors() {
        return List.of(TorchTensor.of(FC1_WEIGHT, "0.weight", Layout.SAME),
                TorchTensor.of(FC1_BIAS, "0.bias", Layout.VECTOR),
                TorchTensor.of(FC2_WEIGHT, "3.weight", Layout.SAME),
                TorchTensor.of(FC2_BIAS, "3.bias", Layout.VECTOR));
    }

    @Override
    TokenKernel kernel() {
        return new Kernel();
    }

    /**
     * {@code h = x W1^T + b1}, {@code g = h * Phi(h)} with {@code Phi(h) = (1 + erf(h / sqrt 2)) / 2},
     * {@code y = g W2^T + b2}; backward through {@code gelu'(h) = Phi(h) + h * exp(-h^2 / 2) / sqrt(2 pi)}.
     */
    private final class Kernel extends TokenKernel {
        private INDArray x;   // [rows, width]
        private INDArray h;   // [rows, hidden]
        private INDArray phi; // [rows, hidden]
        private INDArray g;   // [rows, hidden]

        @Override
        INDArray forward(INDArray input, Map<String, INDArray> params, LayerWorkspaceMgr workspaces) {
            long rows = input.size(0) * tokens;
            var type = input.dataType();
            x = toRows(input, buffer("x", type, rows, width));
            h = buffer("h", type, rows, hidden);
            Nd4j.gemm(x, params.get(FC1_WEIGHT), h, false, true, 1.0, 0.0);
            h.addiRowVector(row(params.get(FC1_BIAS)));
            phi = buffer("phi", type, rows, hidden);
            Nd4j.exec(new Erf(h.mul(1.0 / Math.sqrt(2.0)), phi));
            phi.addi(1.0).muli(0.5);
            g = buffer("g", type, rows, hidden);
            g.assign(h).muli(phi);
            INDArray out = Nd4j.createUninitialized(type, rows, width);
            Nd4j.gemm(g, params.get(FC2_WEIGHT), out, false, true, 1.0, 0.0);
            out.addiRowVector(row(params.get(FC2_BIAS)));
            return toNcw(out, tokens, workspaces, ArrayType.ACTIVATIONS);
        }

        @Override
        INDArray backward(INDArray epsilon, Map<String, INDArray> params, Map<String, INDArray> gradients,
                          LayerWorkspaceMgr workspaces) {
            long rows = epsilon.size(0) * tokens;
            var type = epsilon.dataType();
            INDArray dy = toRows(epsilon, Nd4j.createUninitialized(type, rows, width));
            store(gradients.get(FC2_BIAS), dy.sum(0));
            store(gradients.get(FC2_WEIGHT), Nd4j.gemm(dy, g, true, false));
            INDArray dh = Nd4j.createUninitialized(type, rows, hidden);
            Nd4j.gemm(dy, params.get(FC2_WEIGHT), dh, false, false, 1.0, 0.0);
            INDArray slope = h.mul(h).muli(-0.5);
            Transforms.exp(slope, false).muli(h).muli(1.0 / Math.sqrt(2 * Math.PI)).addi(phi);
            dh.muli(slope);
            store(gradients.get(FC1_BIAS), dh.sum(0));
            store(gradients.get(FC1_WEIGHT), Nd4j.gemm(dh, x, true, false));
            INDArray dx = Nd4j.createUninitialized(type, rows, width);
            Nd4j.gemm(dh, params.get(FC1_WEIGHT), dx, false, false, 1.0, 0.0);
            return toNcw(dx, tokens, workspaces, ArrayType.ACTIVATION_GRAD);
        }
    }
}
