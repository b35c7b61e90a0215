package io.lockstep.models;

import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.CnnLossLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@link GroupNormalization} as group, layer (1 group) and instance (C groups) normalization: DL4J's
 * numerical gradient check in double precision, and equality with PyTorch's {@code nn.GroupNorm} /
 * {@code nn.InstanceNorm2d} — output, input gradient and affine gradients — computed by
 * {@code /usr/bin/python3} with Debian's {@code python3-torch} (installed by CI).
 */
class GroupNormalizationTest {
    private static final String PYTHON = "/usr/bin/python3";
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
        Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
    }

    @ParameterizedTest(name = "{0} groups of 4 channels")
    @CsvSource({"2", "1", "4"})
    void gradientsMatchFiniteDifferences(int groups) {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(3).dataType(DataType.DOUBLE).updater(new NoOp()).weightInit(WeightInit.XAVIER)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(4, 4, 2))
                .addLayer("conv", new ConvolutionLayer.Builder(2, 2).nOut(4).activation(Activation.IDENTITY).build(), "in")
                .addLayer("gn", new GroupNormalization(groups, 1e-5), "conv")
                .addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "gn")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3)
                        .activation(Activation.SOFTMAX).build(), "pool")
                .setOutputs("out")
                .build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        // Non-trivial affine parameters, so their gradients and their effect on the input gradient are checked.
        graph.getParam("gn_" + GroupNormalization.GAMMA).assign(Nd4j.createFromArray(0.5, 0.9, 1.3, 1.7).reshape(1, 4));
        graph.getParam("gn_" + GroupNormalization.BETA).assign(Nd4j.createFromArray(-0.3, -0.1, 0.2, 0.4).reshape(1, 4));
        Nd4j.getRandom().setSeed(17);
        INDArray features = Nd4j.rand(DataType.DOUBLE, 5, 2, 4, 4).muli(3).subi(1);
        INDArray labels = Nd4j.zeros(DataType.DOUBLE, 5, 3);
        for (int i = 0; i < 5; i++) {
            labels.putScalar(i, i % 3, 1.0);
        }
        assertTrue(GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig().net(graph)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY)
                .inputs(new INDArray[]{features}).labels(new INDArray[]{labels})
                .epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(1e-9)), "GroupNorm(" + groups + ", 4) gradient check");
    }

    @ParameterizedTest(name = "{5} ({4} groups) on {0}x{1}x{2}x{3}")
    @CsvSource({
            "2, 6, 3, 3, 3, group",
            "2, 4, 3, 2, 1, layer",
            "3, 4, 2, 3, 4, instance"})
    void equalsPyTorch(int n, int c, int h, int w, int groups, String kind) throws Exception {
        double eps = 1e-5;
        JsonNode reference = runPyTorch(n, c, h, w, groups, kind, eps);

        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .dataType(DataType.DOUBLE).updater(new NoOp())
                .list()
                .layer(new GroupNormalization(groups, eps))
                .layer(new CnnLossLayer.Builder(LossFunctions.LossFunction.L2).activation(Activation.IDENTITY).build())
                .setInputType(InputType.convolutional(h, w, c))
                .build());
        net.init();
        double[] gamma = new double[c];
        double[] beta = new double[c];
        for (int i = 0; i < c; i++) {
            gamma[i] = 1 + 0.1 * i;
            beta[i] = 0.05 * i - 0.1;
        }
        net.getLayer(0).getParam(GroupNormalization.GAMMA).assign(Nd4j.createFromArray(gamma).reshape(1, c));
        net.getLayer(0).getParam(GroupNormalization.BETA).assign(Nd4j.createFromArray(beta).reshape(1, c));
        int count = n * c * h * w;
        double[] x = new double[count];
        double[] weights = new double[count];
        for (int i = 0; i < count; i++) {
            x[i] = Math.sin(0.37 * i) * (1 + i % 5) + 0.3;
            weights[i] = Math.cos(0.11 * i);
        }
        INDArray input = Nd4j.createFromArray(x).reshape('c', n, c, h, w);
        INDArray y = net.output(input, false);
        assertClose(kind + " output", values(reference.get("output")), y.reshape(count).toDoubleVector(), 1e-9);

        // L2 loss sum (y - t)^2 with t = y - weights/2 has dL/dy = weights: PyTorch's sum(y * weights).
        INDArray target = y.sub(Nd4j.createFromArray(weights).reshape('c', n, c, h, w).muli(0.5));
        Pair<Gradient, INDArray> gradients = net.calculateGradients(input, target, null, null);
        assertClose(kind + " input gradient", values(reference.get("input_gradient")),
                gradients.getSecond().reshape(count).toDoubleVector(), 1e-8);
        assertClose(kind + " weight (gamma) gradient", values(reference.get("weight_gradient")),
                gradients.getFirst().getGradientFor("0_" + GroupNormalization.GAMMA).reshape(c).toDoubleVector(), 1e-8);
        assertClose(kind + " bias (beta) gradient", values(reference.get("bias_gradient")),
                gradients.getFirst().getGradientFor("0_" + GroupNormalization.BETA).reshape(c).toDoubleVector(), 1e-8);
    }

    private static JsonNode runPyTorch(int n, int c, int h, int w, int groups, String kind, double eps) throws Exception {
        Path script = Files.createTempFile("lockstep-normalization", ".py");
        Path out = Files.createTempFile("lockstep-normalization", ".json");
        Path err = Files.createTempFile("lockstep-normalization", ".err");
        try {
            try (InputStream in = GroupNormalizationTest.class.getResourceAsStream("/pytorch/normalization.py")) {
                Files.write(script, in.readAllBytes());
            }
            List<String> command = List.of(PYTHON, script.toString(), "" + n, "" + c, "" + h, "" + w, "" + groups, kind,
                    "" + eps);
            Process process;
            try {
                process = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            } catch (IOException e) {
                throw new AssertionError(PYTHON + " is needed for the PyTorch reference values: apt-get install -y python3-torch", e);
            }
            if (!process.waitFor(120, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                fail("the PyTorch reference script did not finish within 120 s: " + command);
            }
            if (process.exitValue() != 0) {
                fail("the PyTorch reference script failed (exit " + process.exitValue() + "; is python3-torch installed? "
                        + "apt-get install -y python3-torch): " + Files.readString(err));
            }
            return new ObjectMapper().readTree(Files.readString(out, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(script);
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    private static double[] values(JsonNode array) {
        double[] v = new double[array.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = array.get(i).asDouble();
        }
        return v;
    }

    /** |actual - expected| <= tolerance * max(1, |expected|) element-wise, naming the worst element. */
    private static void assertClose(String what, double[] expected, double[] actual, double tolerance) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            double error = Math.abs(actual[i] - expected[i]) / Math.max(1.0, Math.abs(expected[i]));
            if (!(error <= tolerance)) {
                fail(what + ": element " + i + " is " + actual[i] + ", PyTorch " + expected[i] + " (scaled error " + error + ")");
            }
        }
    }
}
