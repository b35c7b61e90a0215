package io.lockstep.models.layers;

import io.lockstep.models.torch.TorchLayouts.Layout;
import io.lockstep.models.torch.TorchLayouts.TorchTensor;
import io.lockstep.models.torch.TorchMapped;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.nd4j.autodiff.samediff.SDIndex;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.shade.jackson.annotation.JsonProperty;

import java.util.List;
import java.util.Map;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;
import static org.nd4j.linalg.indexing.NDArrayIndex.point;

/**
 * Turns the patch embedding's feature map {@code [mb, width, h, w]} into the Vision Transformer's token
 * sequence: the {@code h*w} patches in row-major order, preceded by the learned class token, plus the
 * learned position embeddings ({@code torchvision}'s {@code _process_input}, class token concatenation
 * and {@code encoder.pos_embedding}). Output {@code [mb, width, h*w + 1]}.
 */
public final class ClassTokenPositionEmbedding extends TokenLayer implements TorchMapped {
    public static final String CLASS_TOKEN = "classToken";
    public static final String POSITION = "positionEmbedding";

    @JsonProperty
    private int patchesHigh;
    @JsonProperty
    private int patchesWide;

    ClassTokenPositionEmbedding() {
    }

    public ClassTokenPositionEmbedding(int width, int patchesHigh, int patchesWide) {
        super(width, patchesHigh * patchesWide + 1, 0);
        this.patchesHigh = patchesHigh;
        this.patchesWide = patchesWide;
    }

    @Override
    protected Object[] sizes() {
        return new Object[]{patchesHigh, patchesWide};
    }

    @Override
    public void setNIn(InputType inputType, boolean override) {
        if (!(inputType instanceof InputType.InputTypeConvolutional c) || c.getChannels() != width
                || c.getHeight() != patchesHigh || c.getWidth() != patchesWide) {
            throw new IllegalStateException("ClassTokenPositionEmbedding " + getLayerName() + " expects a " + width + "x"
                    + patchesHigh + "x" + patchesWide + " patch map, got " + inputType);
        }
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        params.addBiasParam(CLASS_TOKEN, 1, 1, width);
        params.addBiasParam(POSITION, 1, tokens, width);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        params.get(CLASS_TOKEN).assign(0);
        INDArray position = params.get(POSITION);
        position.assign(Nd4j.randn(position.dataType(), position.shape()).muli(0.02));
    }

    @Override
    public SDVariable defineLayer(SameDiff sd, SDVariable input, Map<String, SDVariable> params, SDVariable mask) {
        SDVariable patches = input.reshape(-1, width, tokens - 1).permute(0, 2, 1); // [mb, patches, width]
        SDVariable ones = sd.onesLike(patches.get(SDIndex.all(), SDIndex.interval(0, 1), SDIndex.interval(0, 1)));
        SDVariable classTokens = ones.mul(params.get(CLASS_TOKEN)); // [mb, 1, width]
        SDVariable sequence = sd.concat(1, classTokens, patches).add(params.get(POSITION));
        return sequence.permute(0, 2, 1);
    }

    /** The class token is a top-level tensor of torchvision's ViT, the position embedding lives in its encoder. */
    @Override
    public List<TorchTensor> torchTensors() {
        return List.of(TorchTensor.of(CLASS_TOKEN, "class_token", Layout.SAME),
                TorchTensor.of(POSITION, "encoder.pos_embedding", Layout.SAME));
    }

    @Override
    TokenKernel kernel() {
        return new Kernel();
    }

    /** Token 0 is the class token, tokens 1.. the patches; the position embedding is added to all. */
    private final class Kernel extends TokenKernel {
        @Override
        INDArray forward(INDArray input, Map<String, INDArray> params, LayerWorkspaceMgr workspaces) {
            long mb = input.size(0);
            INDArray out = workspaces.createUninitialized(ArrayType.ACTIVATIONS, input.dataType(), new long[]{mb, width, tokens}, 'c');
            out.get(all(), all(), interval(1, tokens)).assign(input.reshape(mb, width, tokens - 1));
            out.get(all(), all(), point(0)).assign(0).addiRowVector(row(params.get(CLASS_TOKEN)));
            // position [1, tokens, width] as [width, tokens] in row-major order, added to every example
            INDArray position = params.get(POSITION).reshape(tokens, width).transpose().dup('c');
            out.reshape(mb, (long) width * tokens).addiRowVector(position.reshape(1, (long) width * tokens));
            return out;
        }

        @Override
        INDArray backward(INDArray epsilon, Map<String, INDArray> params, Map<String, INDArray> gradients,
                          LayerWorkspaceMgr workspaces) {
            long mb = epsilon.size(0);
            store(gradients.get(CLASS_TOKEN), epsilon.get(all(), all(), point(0)).sum(0));
            store(gradients.get(POSITION), epsilon.sum(0).transpose()); // [width, tokens] -> [tokens, width]
            INDArray dx = workspaces.createUninitialized(ArrayType.ACTIVATION_GRAD, epsilon.dataType(),
                    new long[]{mb, width, patchesHigh, patchesWide}, 'c');
            dx.reshape(mb, width, tokens - 1).assign(epsilon.get(all(), all(), interval(1, tokens)));
            return dx;
        }
    }
}
