package io.lockstep.models.torch;

import io.lockstep.models.Architecture;
import io.lockstep.models.InceptionV3;
import io.lockstep.models.InputShape;
import io.lockstep.models.ModelOptions;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.DefaultParamInitializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Runs {@code src/test/python/export_torchvision.py} (PyTorch from Debian's python3-torch and
 * python3-torchvision) to produce reference state_dicts and logits, and compares Lockstep's logits with
 * them. Never skips: without PyTorch the tests fail and say what to install.
 */
final class TorchReference {
    static final Path PYTHON = Path.of("/usr/bin/python3");
    static final Path SCRIPT = Path.of("src/test/python/export_torchvision.py");
    private static final long DEADLINE_MINUTES = 15;
    private static final String AUX_LOGITS = "aux_logits";

    private TorchReference() {
    }

    /**
     * One comparison: the model, the input and class count it is built and exported with, and the number of
     * images in the reference batch.
     */
    record Case(String model, InputShape input, int classes, int batch) {
        ModelOptions options() {
            return ModelOptions.of(classes, input);
        }

        @Override
        public String toString() {
            return model + " at " + input + ", " + classes + " classes";
        }
    }

    /**
     * Writes {@code NAME.safetensors} and {@code NAME.reference.safetensors} for every case into {@code dir},
     * with one run of the export script per input, class count and batch.
     */
    static void export(Path dir, List<Case> cases) throws IOException, InterruptedException {
        if (!Files.isExecutable(PYTHON)) {
            failWithoutPyTorch(PYTHON + " does not exist");
        }
        Map<List<Object>, List<String>> groups = new LinkedHashMap<>();
        for (Case c : cases) {
            groups.computeIfAbsent(List.of(c.input(), c.classes(), c.batch()), k -> new ArrayList<>()).add(c.model());
        }
        for (Map.Entry<List<Object>, List<String>> group : groups.entrySet()) {
            List<Object> key = group.getKey();
            List<String> command = new ArrayList<>(List.of(PYTHON.toString(), SCRIPT.toAbsolutePath().toString(),
                    "--out", dir.toString(), "--input", key.get(0).toString(), "--classes", key.get(1).toString(),
                    "--batch", key.get(2).toString()));
            command.addAll(group.getValue());
            int code = run(command, dir, DEADLINE_MINUTES);
            if (code != 0) {
                String log = Files.readString(dir.resolve("export.log"));
                if (log.contains("ModuleNotFoundError")) {
                    failWithoutPyTorch(log);
                }
                fail(SCRIPT + " failed with exit code " + code + ":\n" + log);
            }
        }
    }

    private static void failWithoutPyTorch(String cause) {
        fail("PyTorch is needed for the logits-equality tests: install it with "
                + "`apt-get install -y python3-torch python3-torchvision` (Debian; used through /usr/bin/python3). "
                + cause);
    }

    private static int run(List<String> command, Path dir, long minutes) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(dir.resolve("export.log").toFile()).start();
        if (!process.waitFor(minutes, TimeUnit.MINUTES)) {
            process.destroyForcibly();
            fail(String.join(" ", command) + " did not finish within " + minutes + " minutes");
        }
        return process.exitValue();
    }


    /**
     * Imports the exported weights, runs inference on the exported input and asserts equal logits; where the
     * reference also holds {@code aux_logits} (Inception-v3 at 299x299), the auxiliary classifier's too.
     */
    static void assertLogitsEqual(Path dir, Case c) {
        String model = c.model();
        ComputationGraph graph = TorchWeights.load(model, c.options(), dir.resolve(model + ".safetensors"));
        SafeTensors reference = SafeTensors.open(dir.resolve(model + ".reference.safetensors"));
        INDArray input = array(reference, "input");
        Map<String, INDArray> activations = graph.feedForward(input, false);
        assertClose(model, array(reference, "logits"), logits(graph, activations, Architecture.OUTPUT));
        if (reference.entries().containsKey(AUX_LOGITS)) {
            assertClose(model + " auxiliary classifier", array(reference, AUX_LOGITS),
                    logits(graph, activations, InceptionV3.AUX_OUTPUT));
        }
    }

    private static void assertClose(String what, INDArray expected, INDArray actual) {
        assertArrayEquals(expected.shape(), actual.shape(), what + ": logits shape");
        double scale = Math.max(expected.amaxNumber().doubleValue(), 1e-6);
        double worst = Nd4j.math().abs(actual.sub(expected)).maxNumber().doubleValue() / scale;
        assertTrue(worst <= 1e-4, what + ": largest logit difference is " + worst
                + " of the largest logit (allowed 1e-4); first logits Lockstep " + actual.getRow(0).get(
                NDArrayIndex.interval(0, 4)) + " vs PyTorch " + expected.getRow(0).get(NDArrayIndex.interval(0, 4)));
    }

    static INDArray array(SafeTensors file, String name) {
        return Nd4j.create(file.readFloats(name), file.entries().get(name).shape(), 'c');
    }

    /** The output layer's input times its weights plus bias: the logits before the softmax. */
    static INDArray logits(ComputationGraph graph, Map<String, INDArray> activations, String outputLayer) {
        String featuresVertex = graph.getConfiguration().getVertexInputs().get(outputLayer).get(0);
        INDArray features = activations.get(featuresVertex);
        features = features.reshape('c', features.size(0), features.length() / features.size(0));
        INDArray w = graph.getLayer(outputLayer).getParam(DefaultParamInitializer.WEIGHT_KEY);
        INDArray b = graph.getLayer(outputLayer).getParam(DefaultParamInitializer.BIAS_KEY);
        return features.mmul(w).addRowVector(b);
    }
}
