package io.lockstep.models.layers;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A graph built with {@link ResidualAddRelu} in the form it had before: DL4J's add vertex and a ReLU layer. */
public final class AddThenRelu {
    private AddThenRelu() {
    }

    /**
     * {@code ours} with each fused vertex {@code X} replaced by DL4J's add vertex and a ReLU layer {@code X},
     * added where the fused vertex was, as the network builder added them, with {@code ours}'s parameters
     * (copied by name).
     */
    public static ComputationGraph of(ComputationGraph ours) {
        ComputationGraphConfiguration conf = ours.getConfiguration().clone();
        Map<String, GraphVertex> vertices = new LinkedHashMap<>();
        Map<String, List<String>> inputs = new LinkedHashMap<>();
        for (Map.Entry<String, GraphVertex> entry : conf.getVertices().entrySet()) {
            String name = entry.getKey();
            if (entry.getValue() instanceof ResidualAddRelu) {
                // The old builder's name: layer1_0_add before layer1_0_relu.
                String add = (name.endsWith("_relu") ? name.substring(0, name.length() - "_relu".length()) : name) + "_add";
                vertices.put(add, new ElementWiseVertex(ElementWiseVertex.Op.Add));
                inputs.put(add, new ArrayList<>(conf.getVertexInputs().get(name)));
                NeuralNetConfiguration layer = reluTemplate(conf);
                layer.getLayer().setLayerName(name);
                vertices.put(name, new LayerVertex(layer, null));
                inputs.put(name, new ArrayList<>(List.of(add)));
            } else {
                vertices.put(name, entry.getValue());
                inputs.put(name, conf.getVertexInputs().get(name));
            }
        }
        conf.setVertices(new LinkedHashMap<>(vertices));
        conf.setVertexInputs(inputs);
        ComputationGraph stock = new ComputationGraph(ComputationGraphConfiguration.fromJson(conf.toJson()));
        stock.init();
        for (Map.Entry<String, INDArray> param : ours.paramTable().entrySet()) {
            stock.getParam(param.getKey()).assign(param.getValue());
        }
        return stock;
    }

    /** A copy of the graph's first ReLU layer's configuration (the graph's settings), or a default one. */
    private static NeuralNetConfiguration reluTemplate(ComputationGraphConfiguration conf) {
        for (GraphVertex vertex : conf.getVertices().values()) {
            if (vertex instanceof LayerVertex layer && layer.getLayerConf().getLayer() instanceof ReluActivation) {
                return layer.getLayerConf().clone();
            }
        }
        NeuralNetConfiguration layer = new NeuralNetConfiguration.Builder().dataType(conf.getDataType()).build();
        layer.setLayer(ReluActivation.relu());
        return layer;
    }

}
