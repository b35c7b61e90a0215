package io.lockstep.models.layers;

import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.nd4j.autodiff.samediff.SDIndex;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;

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
}
