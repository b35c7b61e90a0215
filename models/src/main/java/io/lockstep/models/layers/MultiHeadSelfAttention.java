package io.lockstep.models.layers;

import io.lockstep.models.torch.TorchLayouts.Layout;
import io.lockstep.models.torch.TorchLayouts.TorchTensor;
import io.lockstep.models.torch.TorchMapped;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.nd4j.autodiff.samediff.SDIndex;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.shade.jackson.annotation.JsonProperty;

import java.util.List;
import java.util.Map;

/**
 * Multi-head self-attention computed as {@code torch.nn.MultiheadAttention(width, heads)} does with
 * query = key = value = the input and no mask: one packed input projection {@code in_proj_weight}
 * {@code [3*width, width]} (rows: query, key, value) and {@code in_proj_bias}; each head attends with
 * {@code softmax(q k^T / sqrt(width/heads)) v}; heads are concatenated and projected by
 * {@code out_proj} ({@code [width, width]} plus bias). No dropout (torchvision's ViT uses none).
 */
public final class MultiHeadSelfAttention extends TokenLayer implements TorchMapped {
    public static final String IN_WEIGHT = "inProjWeight";
    public static final String IN_BIAS = "inProjBias";
    public static final String OUT_WEIGHT = "outProjWeight";
    public static final String OUT_BIAS = "outProjBias";

    @JsonProperty
    private int heads;

    MultiHeadSelfAttention() {
    }

    public MultiHeadSelfAttention(int width, int tokens, int heads, double weightDecay) {
        super(width, tokens, weightDecay);
        if (heads <= 0 || width % heads != 0) {
            throw new IllegalArgumentException("width " + width + " is not divisible into " + heads + " heads");
        }
        this.heads = heads;
    }

    public int heads() {
        return heads;
    }

    @Override
    protected Object[] sizes() {
        return new Object[]{heads};
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        params.addWeightParam(IN_WEIGHT, 3L * width, width);
        params.addBiasParam(IN_BIAS, 3L * width);
        params.addWeightParam(OUT_WEIGHT, width, width);
        params.addBiasParam(OUT_BIAS, width);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        xavierUniform(params.get(IN_WEIGHT));
        params.get(IN_BIAS).assign(0);
        xavierUniform(params.get(OUT_WEIGHT));
        params.get(OUT_BIAS).assign(0);
    }

    @Override
    public SDVariable defineLayer(SameDiff sd, SDVariable input, Map<String, SDVariable> params, SDVariable mask) {
        int headWidth = width / heads;
        SDVariable x = input.permute(0, 2, 1).reshape(-1, width); // [mb*tokens, width]
        SDVariable qkv = sd.mmul(x, params.get(IN_WEIGHT), false, true, false).add(params.get(IN_BIAS));
        SDVariable q = splitHeads(qkv.get(SDIndex.all(), SDIndex.interval(0, width)), headWidth)
                .mul(1.0 / Math.sqrt(headWidth));
        SDVariable k = splitHeads(qkv.get(SDIndex.all(), SDIndex.interval(width, 2 * width)), headWidth);
        SDVariable v = splitHeads(qkv.get(SDIndex.all(), SDIndex.interval(2 * width, 3 * width)), headWidth);
        SDVariable weights = sd.nn.softmax(sd.mmul(q, k, false, true, false), 2); // [mb*heads, tokens, tokens]
        SDVariable attended = sd.mmul(weights, v)                                  // [mb*heads, tokens, headWidth]
                .reshape(-1, heads, tokens, headWidth).permute(0, 2, 1, 3).reshape(-1, width);
        SDVariable out = sd.mmul(attended, params.get(OUT_WEIGHT), false, true, false).add(params.get(OUT_BIAS));
        return out.reshape(-1, tokens, width).permute(0, 2, 1);
    }

    /** {@code [mb*tokens, width]} to {@code [mb*heads, tokens, headWidth]}. */
    private SDVariable splitHeads(SDVariable x, int headWidth) {
        return x.reshape(-1, tokens, heads, headWidth).permute(0, 2, 1, 3).reshape(-1, tokens, headWidth);
    }

    @Override
    public List<TorchTensor> torchTensors() {
        return List.of(TorchTensor.of(IN_WEIGHT, "in_proj_weight", Layout.SAME),
                TorchTensor.of(IN_BIAS, "in_proj_bias", Layout.VECTOR),
                TorchTensor.of(OUT_WEIGHT, "out_proj.weight", Layout.SAME),
                TorchTensor.of(OUT_BIAS, "out_proj.bias", Layout.VECTOR));
    }
}
