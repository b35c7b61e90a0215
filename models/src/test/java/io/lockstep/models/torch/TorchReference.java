package io.lockstep.models.torch;

import io.lockstep.models.Architecture;
import io.lockstep.models.InputShape;
import io.lockstep.models.ModelOptions;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.DefaultParamInitializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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

    private TorchReference() {
    }

    /** Writes {@code NAME.safetensors} and {@code NAME.reference.safetensors} for each model into {@code dir}. */
    static void export(Path dir, InputShape input, int classes, String... models) throws IOException, InterruptedException {
        if (!Files.isExecutable(PYTHON) || run(List.of(PYTHON.toString(), "-c", "import torch, torchvision"), dir, 2) != 0) {
            fail("PyTorch is needed for the logits-equality tests: install it with "
                    + "`apt-get install -y python3-torch python3-torchvision` (Debian; used through /usr/bin/python3)");
        }
        List<String> command = new ArrayList<>(List.of(PYTHON.toString(), SCRIPT.toAbsolutePath().toString(),
                "--out", dir.toString(), "--classes", Integer.toString(classes), "--input", input.toString()));
        command.addAll(List.of(models));
        int code = run(command, dir, DEADLINE_MINUTES);
        if (code != 0) {
            fail(SCRIPT + " failed with exit code " + code + ":\n" + Files.readString(dir.resolve("export.log")));
        }
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


    /** Imports the exported weights, runs inference on the exported input and asserts equal logits. */
    static void assertLogitsEqual(Path dir, String model, ModelOptions options) {
        ComputationGraph graph = TorchWeights.load(model, options, dir.resolve(model + ".safetensors"));
        SafeTensors reference = SafeTensors.open(dir.resolve(model + ".reference.safetensors"));
        INDArray input = array(reference, "input");
        INDArray expected = array(reference, "logits");
        INDArray actual = logits(graph, input);
        assertArrayEquals(expected.shape(), actual.shape(), model + ": logits shape");
        double scale = Math.max(expected.amaxNumber().doubleValue(), 1e-6);
        double worst = Nd4j.math().abs(actual.sub(expected)).maxNumber().doubleValue() / scale;
        assertTrue(worst <= 1e-4, model + ": largest logit difference is " + worst
                + " of the largest logit (allowed 1e-4); first logits Lockstep " + actual.getRow(0).get(
                org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 4)) + " vs PyTorch "
                + expected.getRow(0).get(org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 4)));
    }

    static INDArray array(SafeTensors file, String name) {
        return Nd4j.create(file.readFloats(name), file.entries().get(name).shape(), 'c');
    }

    /** The output layer's input times its weights plus bias: the logits before the softmax. */
    static INDArray logits(ComputationGraph graph, INDArray input) {
        String featuresVertex = graph.getConfiguration().getVertexInputs().get(Architecture.OUTPUT).get(0);
        INDArray features = graph.feedForward(input, false).get(featuresVertex);
        features = features.reshape('c', features.size(0), features.length() / features.size(0));
        INDArray w = graph.getLayer(Architecture.OUTPUT).getParam(DefaultParamInitializer.WEIGHT_KEY);
        INDArray b = graph.getLayer(Architecture.OUTPUT).getParam(DefaultParamInitializer.BIAS_KEY);
        return features.mmul(w).addRowVector(b);
    }
}
