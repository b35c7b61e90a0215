package io.lockstep.models.layers;

import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each transformer layer's hand-written kernel computes what its SameDiff definition
 * ({@link TokenLayer#defineLayer}) defines: the same output, input gradient and parameter gradients
 * (SameDiff's automatic differentiation of the loss {@code sum(output * upstream)}), in double
 * precision, with random parameters and a minibatch of several examples (so token and example order
 * errors show).
 */
class TokenKernelsMatchSameDiffTest {
    private static final int WIDTH = 8;
    private static final int TOKENS = 5; // 2x2 patches + class token
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

    static Stream<TokenLayer> layers() {
        return Stream.of(new TokenLayerNorm(WIDTH, TOKENS, 1e-6), new MultiHeadSelfAttention(WIDTH, TOKENS, 2, 0),
                new TokenMlp(WIDTH, TOKENS, 12, 0), new ClassTokenPositionEmbedding(WIDTH, 2, 2),
                new ClassTokenSelect(WIDTH, TOKENS));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("layers")
    void kernelMatchesSameDiffDefinition(TokenLayer layer) {
        Nd4j.getRandom().setSeed(3);
        int mb = 3;
        long[] inputShape = layer instanceof ClassTokenPositionEmbedding ? new long[]{mb, WIDTH, 2, 2} : new long[]{mb, WIDTH, TOKENS};
        INDArray input = Nd4j.randn(DataType.DOUBLE, inputShape);
        Map<String, INDArray> params = new LinkedHashMap<>();
        layer.getLayerParams().getParamShapes().forEach((key, shape) -> params.put(key, Nd4j.randn(DataType.DOUBLE, shape)));

        SameDiff sd = SameDiff.create();
        SDVariable in = sd.var("input", input.dup());
        Map<String, SDVariable> vars = new LinkedHashMap<>();
        params.forEach((key, value) -> vars.put(key, sd.var(key, value.dup())));
        SDVariable out = layer.defineLayer(sd, in, vars, null);
        INDArray expectedOut = out.eval();
        INDArray upstream = Nd4j.randn(DataType.DOUBLE, expectedOut.shape());
        SDVariable loss = out.mul(sd.constant("upstream", upstream)).sum();
        sd.setLossVariables(loss);
        List<String> wrt = new ArrayList<>(params.keySet());
        wrt.add("input");
        Map<String, INDArray> expectedGradients = sd.calculateGradients(null, wrt);

        TokenKernel kernel = layer.kernel();
        LayerWorkspaceMgr noWorkspaces = LayerWorkspaceMgr.noWorkspaces();
        INDArray actualOut = kernel.forward(input.dup(), params, noWorkspaces);
        Map<String, INDArray> gradients = new LinkedHashMap<>();
        params.forEach((key, value) -> gradients.put(key, Nd4j.zeros(DataType.DOUBLE, value.shape())));
        INDArray actualInputGradient = kernel.backward(upstream.dup(), params, gradients, noWorkspaces);

        assertClose("output", expectedOut, actualOut);
        assertClose("input gradient", expectedGradients.get("input"), actualInputGradient);
        for (String key : params.keySet()) {
            assertClose(key + " gradient", expectedGradients.get(key), gradients.get(key));
        }
    }

    private static void assertClose(String what, INDArray expected, INDArray actual) {
        assertEquals(java.util.Arrays.toString(expected.shape()), java.util.Arrays.toString(actual.shape()), what + " shape");
        double scale = Math.max(1e-12, expected.amaxNumber().doubleValue());
        double error = expected.sub(actual).amaxNumber().doubleValue();
        assertTrue(error <= 1e-10 * scale, what + ": largest difference " + error + " (scale " + scale + ")");
    }
}
