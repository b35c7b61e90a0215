package io.lockstep.models.layers;

import io.lockstep.models.torch.TorchLayouts.Layout;
import io.lockstep.models.torch.TorchLayouts.TorchTensor;
import io.lockstep.models.torch.TorchMapped;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
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
}
