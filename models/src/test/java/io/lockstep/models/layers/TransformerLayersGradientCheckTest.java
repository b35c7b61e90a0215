package io.lockstep.models.layers;

import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Numerical gradient checks, in double precision, of the Vision Transformer's layers: patch tokens with
 * class token and position embeddings, LayerNorm over tokens, multi-head self-attention, the exact-GELU
 * MLP, residual additions and the class-token read-out, in one small pre-norm encoder block.
 */
class TransformerLayersGradientCheckTest {
    private DataType previousDefault;
    private DataType previousFloatingPoint;

    @BeforeEach
    void useDouble() {
        previousDefault = Nd4j.dataType();
        previousFloatingPoint = Nd4j.defaultFloatingPointType();
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    @AfterEach
    void restoreDefaults() {
        Nd4j.setDefaultDataTypes(previousDefault, previousFloatingPoint);
    }

    @Test
    void encoderBlockGradientsMatchFiniteDifferences() {
        ComputationGraph graph = encoderBlock();
        INDArray features = Nd4j.rand(DataType.DOUBLE, 3, 2, 4, 4).muli(2).subi(1);
        INDArray labels = Nd4j.zeros(DataType.DOUBLE, 3, 3);
        for (int i = 0; i < 3; i++) {
            labels.putScalar(i, i % 3, 1.0);
        }
        boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig().net(graph)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY).subset(true).maxPerParam(6)
                .inputs(new INDArray[]{features}).labels(new INDArray[]{labels})
                .epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(1e-9));
        assertTrue(ok, "transformer block gradient check (failures are logged above)");
    }

    static ComputationGraph encoderBlock() {
        int width = 4;
        int heads = 2;
        int tokens = 2 * 2 + 1;
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(5).dataType(DataType.DOUBLE).updater(new NoOp()).weightInit(WeightInit.XAVIER)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(4, 4, 2))
                .addLayer("patches", new ConvolutionLayer.Builder(2, 2).stride(2, 2).nOut(width)
                        .activation(Activation.IDENTITY).build(), "in")
                .addLayer("embedding", new ClassTokenPositionEmbedding(width, 2, 2), "patches")
                .addLayer("ln_1", new TokenLayerNorm(width, tokens, 1e-6), "embedding")
                .addLayer("attention", new MultiHeadSelfAttention(width, tokens, heads, 0), "ln_1")
                .addVertex("residual_1", new ElementWiseVertex(ElementWiseVertex.Op.Add), "attention", "embedding")
                .addLayer("ln_2", new TokenLayerNorm(width, tokens, 1e-6), "residual_1")
                .addLayer("mlp", new TokenMlp(width, tokens, 6, 0), "ln_2")
                .addVertex("residual_2", new ElementWiseVertex(ElementWiseVertex.Op.Add), "mlp", "residual_1")
                .addLayer("cls", new ClassTokenSelect(width, tokens), "residual_2")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3)
                        .activation(Activation.SOFTMAX).build(), "cls")
                .setOutputs("out")
                .build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        // Non-trivial values everywhere: a zero class token or unit LayerNorm would hide layout errors.
        Nd4j.getRandom().setSeed(11);
        graph.getLayer("embedding").getParam(ClassTokenPositionEmbedding.CLASS_TOKEN).assign(Nd4j.randn(DataType.DOUBLE, 1, 1, width));
        graph.getLayer("embedding").getParam(ClassTokenPositionEmbedding.POSITION).assign(Nd4j.randn(DataType.DOUBLE, 1, tokens, width));
        for (String ln : new String[]{"ln_1", "ln_2"}) {
            graph.getLayer(ln).getParam(TokenLayerNorm.WEIGHT).assign(Nd4j.rand(DataType.DOUBLE, width).addi(0.5));
            graph.getLayer(ln).getParam(TokenLayerNorm.BIAS).assign(Nd4j.randn(DataType.DOUBLE, width).muli(0.3));
        }
        graph.getLayer("attention").getParam(MultiHeadSelfAttention.IN_BIAS).assign(Nd4j.randn(DataType.DOUBLE, 3 * width).muli(0.3));
        graph.getLayer("mlp").getParam(TokenMlp.FC1_BIAS).assign(Nd4j.randn(DataType.DOUBLE, 6).muli(0.3));
        return graph;
    }
}
