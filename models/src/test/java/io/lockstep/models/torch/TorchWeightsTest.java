package io.lockstep.models.torch;

import io.lockstep.models.Architecture;
import io.lockstep.models.InceptionV3;
import io.lockstep.models.InputShape;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Name and layout mapping, and refusal of files that do not fit, on lenet5 and resnet18 (no PyTorch needed). */
class TorchWeightsTest {
    private static final InputShape MNIST = new InputShape(1, 28, 28);

    @TempDir
    Path dir;

    /** A tensor to write: shape and values in row-major order. */
    record T(long[] shape, float[] values) {
    }

    /** lenet5's state_dict as PyTorch lays it out, with distinct values so a transposition would show. */
    static Map<String, T> lenetStateDict(int classes) {
        Map<String, T> tensors = new LinkedHashMap<>();
        tensors.put("conv1.weight", ramp(20, 1, 5, 5));
        tensors.put("conv1.bias", ramp(20));
        tensors.put("conv2.weight", ramp(50, 20, 5, 5));
        tensors.put("conv2.bias", ramp(50));
        tensors.put("fc1.weight", ramp(500, 2450));
        tensors.put("fc1.bias", ramp(500));
        tensors.put("output.weight", ramp(classes, 500));
        tensors.put("output.bias", ramp(classes));
        return tensors;
    }

    static T ramp(long... shape) {
        int n = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (i % 1000) * 1e-3f - 0.5f + n * 1e-7f;
        }
        return new T(shape, v);
    }

    static Path write(Path file, Map<String, T> tensors) throws IOException {
        StringBuilder header = new StringBuilder("{");
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        for (Map.Entry<String, T> e : tensors.entrySet()) {
            long begin = data.size();
            ByteBuffer b = ByteBuffer.allocate(4 * e.getValue().values().length).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : e.getValue().values()) {
                b.putFloat(v);
            }
            data.write(b.array());
            if (header.length() > 1) {
                header.append(',');
            }
            header.append('"').append(e.getKey()).append("\":{\"dtype\":\"F32\",\"shape\":")
                    .append(Arrays.toString(e.getValue().shape())).append(",\"data_offsets\":[")
                    .append(begin).append(',').append(data.size()).append("]}");
        }
        return SafeTensorsTest.write(file, header.append('}').toString(), data.toByteArray());
    }

    @Test
    void lenet5TensorsLandInTheirParametersWithDenseWeightsTransposed() throws IOException {
        Map<String, T> tensors = lenetStateDict(10);
        Path file = write(dir.resolve("lenet5.safetensors"), tensors);
        ComputationGraph graph = TorchWeights.load("lenet5", ModelOptions.of(10, MNIST), file);
        INDArray conv = graph.getLayer("conv2").getParam("W");
        assertArrayEquals(new long[]{50, 20, 5, 5}, conv.shape());
        assertEquals(tensors.get("conv2.weight").values()[((7 * 20 + 3) * 5 + 2) * 5 + 4], conv.getFloat(7, 3, 2, 4));
        INDArray fc = graph.getLayer("fc1").getParam("W");
        assertArrayEquals(new long[]{2450, 500}, fc.shape());
        assertEquals(tensors.get("fc1.weight").values()[123 * 2450 + 2000], fc.getFloat(2000, 123));
        assertEquals(tensors.get("output.bias").values()[9], graph.getLayer(Architecture.OUTPUT).getParam("b").getFloat(9));
    }

    @Test
    void moduleNamesAreTorchvisionsWhereTheyContainUnderscores() {
        Architecture inception = ModelRegistry.get("inception_v3");
        assertEquals("Conv2d_1a_3x3.conv", inception.torchModule("Conv2d_1a_3x3_conv"));
        assertEquals("Mixed_6b.branch7x7_2.bn", inception.torchModule("Mixed_6b_branch7x7_2_bn"));
        assertEquals("Mixed_7c.branch3x3dbl_3a.conv", inception.torchModule("Mixed_7c_branch3x3dbl_3a_conv"));
        assertEquals("Mixed_5b.branch_pool.conv", inception.torchModule("Mixed_5b_branch_pool_conv"));
        assertEquals("AuxLogits.conv1.bn", inception.torchModule("AuxLogits_conv1_bn"));
        assertEquals("AuxLogits.fc", inception.torchModule(InceptionV3.AUX_OUTPUT));
        assertEquals("fc", inception.torchModule(Architecture.OUTPUT));
        assertEquals("fc", ModelRegistry.get("googlenet").torchModule(Architecture.OUTPUT));
        assertEquals("inception4a.branch2.1.conv", ModelRegistry.get("googlenet").torchModule("inception4a_branch2_1_conv"));
        assertEquals("classifier", ModelRegistry.get("densenet121").torchModule(Architecture.OUTPUT));
        assertEquals("features.denseblock2.denselayer3.norm1",
                ModelRegistry.get("densenet121").torchModule("features_denseblock2_denselayer3_norm1"));
        assertEquals("fc2", ModelRegistry.get("simplecnn").torchModule(Architecture.OUTPUT));
    }

    @Test
    void batchNormStatisticsAreConvertedToTheLayersStorage() throws IOException {
        ComputationGraph reference = ModelRegistry.build("resnet18", ModelOptions.of(10, new InputShape(3, 32, 32)));
        Map<String, T> tensors = stateDictOf(reference, "resnet18");
        float[] variance = tensors.get("bn1.running_var").values();
        // small enough that adding eps (1e-5) to the stored value would show: log10(sqrt(1.1e-4)) = -1.979
        Arrays.fill(variance, 1e-4f);
        Path file = write(dir.resolve("resnet18.safetensors"), tensors);
        ComputationGraph graph = TorchWeights.load("resnet18", ModelOptions.of(10, new InputShape(3, 32, 32)), file);
        INDArray log10std = graph.getLayer("bn1").getParam("log10stdev");
        assertEquals(-2.0, log10std.getDouble(0), 1e-6, "log10 of the running standard deviation, without eps");
        assertEquals(tensors.get("layer2.0.downsample.1.running_mean").values()[5],
                graph.getLayer("layer2_0_downsample_1").getParam("mean").getFloat(5));
    }

    /** A state_dict written the way PyTorch names it, from a DL4J resnet (values arbitrary but positive variances). */
    private static Map<String, T> stateDictOf(ComputationGraph graph, String model) {
        Architecture architecture = ModelRegistry.get(model);
        Map<String, T> tensors = new LinkedHashMap<>();
        for (org.deeplearning4j.nn.graph.vertex.GraphVertex v : graph.getVertices()) {
            if (!v.hasLayer()) {
                continue;
            }
            for (TorchLayouts.TorchTensor t : TorchLayouts.of(v.getLayer().conf().getLayer())) {
                INDArray p = v.getLayer().getParam(t.key());
                long[] shape = switch (t.layout()) {
                    case SAME -> p.shape();
                    case VECTOR -> new long[]{p.length()};
                    case TRANSPOSE -> new long[]{p.size(1), p.size(0)};
                };
                T tensor = ramp(shape);
                if (t.suffix().equals("running_var")) {
                    Arrays.fill(tensor.values(), 1f);
                }
                tensors.put(architecture.torchModule(v.getVertexName()) + "." + t.suffix(), tensor);
            }
        }
        return tensors;
    }

    @Test
    void anotherClassCountIsRefusedWithTheFix() throws IOException {
        Path file = write(dir.resolve("five.safetensors"), lenetStateDict(5));
        WeightImportException e = assertThrows(WeightImportException.class,
                () -> TorchWeights.load("lenet5", ModelOptions.of(10, MNIST), file));
        assertTrue(e.getMessage().contains("tensor 'output.weight' has shape [5, 500]")
                && e.getMessage().contains("expects [10, 500]") && e.getMessage().contains("--classes 5"), e.getMessage());
    }

    @Test
    void aMissingTensorIsNamedWithItsExpectedShape() throws IOException {
        Map<String, T> tensors = lenetStateDict(10);
        tensors.remove("conv2.bias");
        Path file = write(dir.resolve("missing.safetensors"), tensors);
        WeightImportException e = assertThrows(WeightImportException.class,
                () -> TorchWeights.load("lenet5", ModelOptions.of(10, MNIST), file));
        assertTrue(e.getMessage().contains("no tensor 'conv2.bias' (shape [50]"), e.getMessage());
    }

    @Test
    void anotherArchitecturesStateDictIsRefused() throws IOException {
        Map<String, T> tensors = lenetStateDict(10);
        tensors.put("layer1.0.conv1.weight", ramp(64, 64, 3, 3));
        Path file = write(dir.resolve("extra.safetensors"), tensors);
        WeightImportException e = assertThrows(WeightImportException.class,
                () -> TorchWeights.load("lenet5", ModelOptions.of(10, MNIST), file));
        assertTrue(e.getMessage().contains("'layer1.0.conv1.weight' [64, 64, 3, 3]")
                && e.getMessage().contains("another architecture"), e.getMessage());
    }

    @Test
    void importToFileWritesALoadableModelAndNothingOnError() throws IOException {
        Path good = write(dir.resolve("good.safetensors"), lenetStateDict(10));
        Path out = dir.resolve("model.zip");
        TorchWeights.importToFile("lenet5", ModelOptions.of(10, MNIST), good, out);
        ComputationGraph restored = ModelSerializer.restoreComputationGraph(out.toFile(), false);
        assertEquals(lenetStateDict(10).get("fc1.bias").values()[3], restored.getLayer("fc1").getParam("b").getFloat(3));

        Path other = dir.resolve("other.zip");
        Path bad = write(dir.resolve("bad.safetensors"), lenetStateDict(7));
        assertThrows(WeightImportException.class, () -> TorchWeights.importToFile("lenet5", ModelOptions.of(10, MNIST), bad, other));
        assertFalse(Files.exists(other));
        try (var listing = Files.list(dir)) {
            assertTrue(listing.noneMatch(p -> p.getFileName().toString().endsWith(".partial")));
        }
    }
}
