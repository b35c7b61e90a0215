package io.lockstep.models.layers;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.params.ConvolutionParamInitializer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * DL4J's convolution layer whose forward pass, when a helper (OneDNN on the CPU) runs it on NHWC
 * activations, hands the helper the input as it is. DL4J's {@code preOutput} first makes a dense NCHW
 * copy of the input ({@code input.permute(0,3,1,2).dup()}) that only its built-in im2col path reads; it
 * runs in every forward pass and again in every backward pass (which recomputes the forward), and took
 * 6 % of a resnet20 training step. Everything else — NCHW, {@code Same} mode, no helper, a helper that
 * declines — is DL4J's own code.
 */
public class NhwcConvolutionLayer extends org.deeplearning4j.nn.layers.convolution.ConvolutionLayer {
    public NhwcConvolutionLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    @Override
    protected Pair<INDArray, INDArray> preOutput(boolean training, boolean forBackprop, LayerWorkspaceMgr workspaceMgr) {
        org.deeplearning4j.nn.conf.layers.ConvolutionLayer config = layerConf();
        if (helper == null || helperCountFail > 0 || config.getCnn2dDataFormat() != CNN2DFormat.NHWC
                || convolutionMode == ConvolutionMode.Same) {
            return super.preOutput(training, forBackprop, workspaceMgr);
        }
        assertInputSet(false);
        validateInputRank();
        if (preOutput != null && forBackprop) {
            return new Pair<>(preOutput, null);
        }
        INDArray bias = getParamWithNoise(ConvolutionParamInitializer.BIAS_KEY, training, workspaceMgr);
        INDArray weights = getParamWithNoise(ConvolutionParamInitializer.WEIGHT_KEY, training, workspaceMgr);
        validateInputDepth(weights.size(1));
        if (!hasBias()) {
            if (dummyBias == null) {
                try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                    dummyBias = Nd4j.create(1, config.getNOut());
                }
            }
            bias = dummyBias;
        }
        INDArray out = helper.preOutput(input.castTo(dataType), weights, bias, config.getKernelSize(), config.getStride(),
                config.getPadding(), config.getCudnnAlgoMode(), config.getCudnnFwdAlgo(), convolutionMode, config.getDilation(),
                CNN2DFormat.NHWC, workspaceMgr);
        return out != null ? new Pair<>(out, null) : super.preOutput(training, forBackprop, workspaceMgr);
    }
}
