package io.lockstep.driver.cli;

import io.lockstep.driver.ConsoleCapture;
import io.lockstep.driver.Main;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImportWeightsCommandTest {
    @TempDir
    Path dir;

    /** lenet5's state_dict in PyTorch's names and shapes; every value of tensor i is i/100. */
    private Path lenet5(String fileName, int classes) throws IOException {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("conv1.weight", new long[]{20, 1, 5, 5});
        shapes.put("conv1.bias", new long[]{20});
        shapes.put("conv2.weight", new long[]{50, 20, 5, 5});
        shapes.put("conv2.bias", new long[]{50});
        shapes.put("fc1.weight", new long[]{500, 2450});
        shapes.put("fc1.bias", new long[]{500});
        shapes.put("output.weight", new long[]{classes, 500});
        shapes.put("output.bias", new long[]{classes});
        StringBuilder header = new StringBuilder("{");
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        int index = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            long n = 1;
            for (long d : e.getValue()) {
                n *= d;
            }
            ByteBuffer b = ByteBuffer.allocate((int) (4 * n)).order(ByteOrder.LITTLE_ENDIAN);
            for (long i = 0; i < n; i++) {
                b.putFloat(index / 100f);
            }
            long begin = data.size();
            data.write(b.array());
            header.append(index++ == 0 ? "" : ",").append('"').append(e.getKey()).append("\":{\"dtype\":\"F32\",\"shape\":")
                    .append(java.util.Arrays.toString(e.getValue())).append(",\"data_offsets\":[").append(begin).append(',')
                    .append(data.size()).append("]}");
        }
        byte[] json = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        file.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).array());
        file.write(json);
        file.write(data.toByteArray());
        return Files.write(dir.resolve(fileName), file.toByteArray());
    }

    @Test
    void importsAStateDictIntoALoadableModelFile() throws IOException {
        Path from = lenet5("lenet5.safetensors", 10);
        Path out = dir.resolve("model.zip");
        ConsoleCapture.Result result = ConsoleCapture.stdout(() -> Main.run("import-weights", "--model", "lenet5",
                "--from", from.toString(), "--out", out.toString()));
        assertEquals(0, result.exit(), result.text());
        assertTrue(result.text().contains("1,256,080 trainable parameters"), result.text());
        ComputationGraph graph = ModelSerializer.restoreComputationGraph(out.toFile(), false);
        assertEquals(0.05f, graph.getLayer("fc1").getParam("b").getFloat(0), 1e-7);
    }

    @Test
    void aMismatchNamesTheTensorAndWritesNothing() throws IOException {
        Path from = lenet5("five-classes.safetensors", 5);
        Path out = dir.resolve("model.zip");
        ConsoleCapture.Result result = ConsoleCapture.stderr(() -> Main.run("import-weights", "--model", "lenet5",
                "--from", from.toString(), "--out", out.toString()));
        assertEquals(2, result.exit(), result.text());
        assertTrue(result.text().contains("'output.weight' has shape [5, 500]") && result.text().contains("--classes 5"),
                result.text());
        assertFalse(Files.exists(out));

        result = ConsoleCapture.stderr(() -> Main.run("import-weights", "--model", "lenet5", "--classes", "5",
                "--from", from.toString(), "--out", out.toString()));
        assertEquals(0, result.exit(), result.text());
        assertTrue(Files.exists(out));
    }

    @Test
    void picklesAndMissingFilesAreRefusedWithTheFix() throws IOException {
        Path pickle = Files.write(dir.resolve("resnet18.pt"), new byte[]{'P', 'K', 3, 4});
        ConsoleCapture.Result result = ConsoleCapture.stderr(() -> Main.run("import-weights", "--model", "resnet18",
                "--from", pickle.toString(), "--out", dir.resolve("m.zip").toString()));
        assertEquals(2, result.exit());
        assertTrue(result.text().contains("safetensors.torch.save_file"), result.text());

        result = ConsoleCapture.stderr(() -> Main.run("import-weights", "--model", "resnet18",
                "--from", dir.resolve("absent.safetensors").toString(), "--out", dir.resolve("m.zip").toString()));
        assertEquals(2, result.exit());
        assertTrue(result.text().contains("absent.safetensors is not a file"), result.text());
        assertFalse(Files.exists(dir.resolve("m.zip")));
    }
}
