package io.lockstep.models;

import io.lockstep.models.layers.MultiHeadSelfAttention;
import io.lockstep.models.layers.TokenMlp;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.layers.samediff.SameDiffLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.File;
import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The transformer layers keep their sizes through DL4J's JSON (checkpoints, model files, Spark tasks). */
class VisionTransformerSerializationTest {
    @TempDir
    Path dir;

    @Test
    void modelFileRoundTripKeepsLayerSizesAndOutputs() throws IOException {
        ModelOptions options = ModelOptions.of(10, new InputShape(1, 8, 8));
        ComputationGraph graph = ModelRegistry.build("vit_small", options);
        INDArray input = Nd4j.rand(DataType.FLOAT, 2, 1, 8, 8);
        INDArray before = graph.outputSingle(false, input);
        File file = dir.resolve("vit.zip").toFile();
        ModelSerializer.writeModel(graph, file, true);

        ComputationGraph restored = ModelSerializer.restoreComputationGraph(file, true);
        ComputationGraphConfiguration conf = restored.getConfiguration();
        SameDiffLayer attention = (SameDiffLayer) ((org.deeplearning4j.nn.conf.graph.LayerVertex)
                conf.getVertices().get("encoder_layer_0_self_attention")).getLayerConf().getLayer();
        assertEquals(4, ((MultiHeadSelfAttention) attention).heads());
        assertEquals(5, ((MultiHeadSelfAttention) attention).tokens());
        TokenMlp mlp = (TokenMlp) ((org.deeplearning4j.nn.conf.graph.LayerVertex)
                conf.getVertices().get("encoder_layer_5_mlp")).getLayerConf().getLayer();
        assertEquals(384, mlp.hidden());
        assertEquals(192, mlp.width());
        assertEquals(before, restored.outputSingle(false, input));
    }
}
