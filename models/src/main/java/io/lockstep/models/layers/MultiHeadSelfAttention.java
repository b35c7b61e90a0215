package io.lockstep.models.layers;

import io.lockstep.models.torch.TorchLayouts.Layout;
import io.lockstep.models.torch.TorchLayouts.TorchTensor;
import io.lockstep.models.torch.TorchMapped;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.nd4j.autodiff.samediff.SDIndex;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Nd4j;
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

    @Override
    TokenKernel kernel() {
        return new Kernel();
    }

    /**
     * One {@code [rows, width] x [width, 3*width]} product for query, key and value of all heads; heads
     * then attend as batched products over {@code [mb*heads, tokens, headWidth]} (copies of the head
     * slices, laid out contiguously for the batched products); one product for the output projection.
     * Backward: {@code dV = P^T dA}, {@code dP = dA V^T}, {@code dS = P * (dP - rowsum(dP * P))},
     * {@code dQ = dS K * scale}, {@code dK = dS^T (Q * scale)}.
     */
    private final class Kernel extends TokenKernel {
        private INDArray x;        // [rows, width]
        private INDArray q;        // scaled queries [mb*heads, tokens, headWidth]
        private INDArray k;
        private INDArray v;
        private INDArray p;        // attention weights [mb*heads, tokens, tokens]
        private INDArray attended; // heads concatenated [rows, width]

        @Override
        INDArray forward(INDArray input, Map<String, INDArray> params, LayerWorkspaceMgr workspaces) {
            long mb = input.size(0);
            long rows = mb * tokens;
            int headWidth = width / heads;
            DataType type = input.dataType();
            x = toRows(input, buffer("x", type, rows, width));
            INDArray qkv = Nd4j.createUninitialized(type, rows, 3L * width);
            Nd4j.gemm(x, params.get(IN_WEIGHT), qkv, false, true, 1.0, 0.0);
            qkv.addiRowVector(row(params.get(IN_BIAS)));
            q = splitHeads(qkv, 0, buffer("q", type, mb * heads, tokens, headWidth)).muli(1.0 / Math.sqrt(headWidth));
            k = splitHeads(qkv, 1, buffer("k", type, mb * heads, tokens, headWidth));
            v = splitHeads(qkv, 2, buffer("v", type, mb * heads, tokens, headWidth));
            p = buffer("p", type, mb * heads, tokens, tokens);
            Nd4j.matmul(q, k, p, false, true, false);
            Nd4j.exec(new SoftMax(p, p, 2));
            INDArray perHead = Nd4j.createUninitialized(type, mb * heads, tokens, headWidth);
            Nd4j.matmul(p, v, perHead, false, false, false);
            attended = mergeHeads(perHead, buffer("attended", type, rows, width));
            INDArray out = Nd4j.createUninitialized(type, rows, width);
            Nd4j.gemm(attended, params.get(OUT_WEIGHT), out, false, true, 1.0, 0.0);
            out.addiRowVector(row(params.get(OUT_BIAS)));
            return toNcw(out, tokens, workspaces, ArrayType.ACTIVATIONS);
        }

        @Override
        INDArray backward(INDArray epsilon, Map<String, INDArray> params, Map<String, INDArray> gradients,
                          LayerWorkspaceMgr workspaces) {
            long mb = epsilon.size(0);
            long rows = mb * tokens;
            int headWidth = width / heads;
            DataType type = epsilon.dataType();
            INDArray dy = toRows(epsilon, Nd4j.createUninitialized(type, rows, width));
            long hw = headWidth;
            store(gradients.get(OUT_BIAS), dy.sum(0));
            store(gradients.get(OUT_WEIGHT), Nd4j.gemm(dy, attended, true, false));
            INDArray dAttended = Nd4j.createUninitialized(type, rows, width);
            Nd4j.gemm(dy, params.get(OUT_WEIGHT), dAttended, false, false, 1.0, 0.0);
            INDArray dPerHead = Nd4j.createUninitialized(type, mb * heads, tokens, headWidth);
            copy(dAttended, 0, new long[]{mb, heads, tokens, hw}, new long[]{(long) tokens * width, hw, width, 1}, dPerHead);
            INDArray dv = Nd4j.createUninitialized(type, mb * heads, tokens, headWidth);
            Nd4j.matmul(p, dPerHead, dv, true, false, false);
            INDArray ds = Nd4j.createUninitialized(type, mb * heads, tokens, tokens);
            Nd4j.matmul(dPerHead, v, ds, false, true, false);
            // softmax backward, one attention row per matrix row
            INDArray ds2 = ds.reshape(mb * heads * tokens, tokens);
            INDArray p2 = p.reshape(mb * heads * tokens, tokens);
            ds2.subiColumnVector(ds2.mul(p2).sum(true, 1)).muli(p2);
            INDArray dq = Nd4j.createUninitialized(type, mb * heads, tokens, headWidth);
            Nd4j.matmul(ds, k, dq, false, false, false);
            dq.muli(1.0 / Math.sqrt(headWidth));
            INDArray dk = Nd4j.createUninitialized(type, mb * heads, tokens, headWidth);
            Nd4j.matmul(ds, q, dk, true, false, false);
            // dq, dk, dv side by side as [3, mb, heads, tokens, headWidth], then interleaved into rows
            long part = mb * heads * tokens * hw;
            INDArray dHeads = Nd4j.createUninitialized(type, 3, part);
            INDArray[] perPart = {dq, dk, dv};
            for (int i = 0; i < 3; i++) {
                dHeads.getRow(i).assign(perPart[i].reshape(part)); // contiguous: a plain copy
            }
            INDArray dqkv = Nd4j.createUninitialized(type, rows, 3L * width);
            copy(dHeads, 0, new long[]{mb, tokens, 3, heads, hw},
                    new long[]{heads * tokens * hw, hw, part, tokens * hw, 1}, dqkv);
            store(gradients.get(IN_BIAS), dqkv.sum(0));
            store(gradients.get(IN_WEIGHT), Nd4j.gemm(dqkv, x, true, false));
            INDArray dx = Nd4j.createUninitialized(type, rows, width);
            Nd4j.gemm(dqkv, params.get(IN_WEIGHT), dx, false, false, 1.0, 0.0);
            return toNcw(dx, tokens, workspaces, ArrayType.ACTIVATION_GRAD);
        }

        /** Part {@code part} (0 query, 1 key, 2 value) of rows {@code [mb*tokens, 3*width]} into {@code [mb*heads, tokens, headWidth]}. */
        private INDArray splitHeads(INDArray qkv, int part, INDArray target) {
            long mb = qkv.size(0) / tokens;
            long hw = width / heads;
            copy(qkv, (long) part * width, new long[]{mb, heads, tokens, hw}, new long[]{3L * tokens * width, hw, 3L * width, 1}, target);
            return target;
        }

        /** {@code [mb*heads, tokens, headWidth]} into rows {@code [mb*tokens, width]}, heads side by side. */
        private INDArray mergeHeads(INDArray perHead, INDArray target) {
            long mb = perHead.size(0) / heads;
            long headWidth = perHead.size(2);
            copy(perHead, 0, new long[]{mb, tokens, heads, headWidth},
                    new long[]{heads * tokens * headWidth, headWidth, tokens * headWidth, 1}, target);
            return target;
        }
    }
}
