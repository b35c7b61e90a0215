package io.lockstep.models.layers;

import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.nd4j.autodiff.samediff.SDIndex;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.point;

/**
 * The first token of each sequence ({@code x[:, 0]} in torchvision's ViT): {@code [mb, width, tokens]}
 * to {@code [mb, width]}, for the classification head. No parameters.
 */
public final class ClassTokenSelect extends TokenLayer {

    ClassTokenSelect() {
    }

    public ClassTokenSelect(int width, int tokens) {
        super(width, tokens, 0);
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        return InputType.feedForward(width);
    }

    @Override
    public void defineParameters(SDLayerParams params) {
        // none
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        // none
    }

    @Override
    public SDVariable defineLayer(SameDiff sd, SDVariable input, Map<String, SDVariable> params, SDVariable mask) {
        return input.get(SDIndex.all(), SDIndex.all(), SDIndex.point(0));
    }

    @Override
    TokenKernel kernel() {
        return new Kernel();
    }

    private final class Kernel extends TokenKernel {
        @Override
        INDArray forward(INDArray input, Map<String, INDArray> params, LayerWorkspaceMgr workspaces) {
            INDArray out = workspaces.createUninitialized(ArrayType.ACTIVATIONS, input.dataType(), new long[]{input.size(0), width}, 'c');
            return out.assign(input.get(all(), all(), point(0)));
        }

        @Override
        INDArray backward(INDArray epsilon, Map<String, INDArray> params, Map<String, INDArray> gradients,
                          LayerWorkspaceMgr workspaces) {
            INDArray dx = workspaces.create(ArrayType.ACTIVATION_GRAD, epsilon.dataType(), new long[]{epsilon.size(0), width, tokens}, 'c');
            dx.get(all(), all(), point(0)).assign(epsilon);
            return dx;
        }
    }
}
