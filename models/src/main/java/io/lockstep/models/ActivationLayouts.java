package io.lockstep.models;

import io.lockstep.models.layers.NhwcConvolution;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;
import org.nd4j.shade.jackson.databind.node.ArrayNode;
import org.nd4j.shade.jackson.databind.node.ObjectNode;
import org.nd4j.shade.jackson.databind.node.TextNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Turns a network built with {@link ActivationLayout#NHWC} activations into the same network in NCHW,
 * configured exactly as the NCHW build of its architecture: the form a trained model is exported in,
 * so a model file does not depend on the layout it was trained in (no NHWC layer classes, no input
 * conversion).
 *
 * <p>The conversion works on the configuration's JSON: Lockstep's NHWC convolutions (and their
 * subclasses) become DL4J's {@code ConvolutionLayer}, the input conversion in front of the first layers
 * goes, the channel-axis concatenation becomes DL4J's {@code MergeVertex}, global pooling pools over
 * axes 2 and 3, and every other NHWC format becomes NCHW. Parameters are copied unchanged: the layouts
 * share them ({@link ActivationLayout}). A network that flattens NHWC activations into a dense layer is
 * refused, since its dense weights are ordered for NHWC.
 *
 * <p>Stateless; the input is never modified.
 */
public final class ActivationLayouts {
    private static final String CLASS = "@class";

    private ActivationLayouts() {
    }

    /** Whether any layer or vertex of {@code conf} works on NHWC activations. */
    public static boolean isNhwc(ComputationGraphConfiguration conf) {
        return conf.toJson().contains("\"NHWC\"");
    }

    /** {@code conf}, or an NCHW copy of it in DL4J's classes when it has NHWC parts. */
    public static ComputationGraphConfiguration toNchw(ComputationGraphConfiguration conf) {
        if (!isNhwc(conf)) {
            return conf;
        }
        ObjectMapper mapper = NeuralNetConfiguration.mapper();
        try {
            JsonNode root = mapper.readTree(conf.toJson());
            convert(root);
            ComputationGraphConfiguration converted = ComputationGraphConfiguration.fromJson(mapper.writeValueAsString(root));
            converted.setIterationCount(conf.getIterationCount());
            converted.setEpochCount(conf.getEpochCount());
            return converted;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot convert the configuration to NCHW: " + e.getMessage(), e);
        }
    }

    /**
     * {@code graph}, or a new NCHW graph equal to it ({@link LayerSwaps#rebuild}: parameters, updater state,
     * iteration and epoch counts, listeners) in DL4J's classes when it has NHWC parts.
     */
    public static ComputationGraph toNchw(ComputationGraph graph) {
        ComputationGraphConfiguration conf = graph.getConfiguration();
        ComputationGraphConfiguration converted = toNchw(conf);
        return converted == conf ? graph : LayerSwaps.rebuild(graph, converted);
    }

    private static void convert(JsonNode node) {
        if (node instanceof ArrayNode array) {
            for (JsonNode element : array) {
                convert(element);
            }
            return;
        }
        if (!(node instanceof ObjectNode object)) {
            return;
        }
        JsonNode type = object.get(CLASS);
        if (type != null && type.isTextual()) {
            String name = type.asText();
            if (isNhwcConvolution(name)) {
                object.put(CLASS, ConvolutionLayer.class.getName());
            } else if (name.equals(AxisMergeVertex.class.getName())) {
                object.put(CLASS, MergeVertex.class.getName());
                object.put("mergeAxis", 1);
                object.put("modified", false); // as DL4J's NCHW concatenation is built: the default axis
            } else if (name.endsWith(".CnnToFeedForwardPreProcessor") && "NHWC".equals(object.path("format").asText())) {
                throw new IllegalArgumentException("the network flattens NHWC activations into a dense layer, whose weights "
                        + "are ordered for NHWC: it cannot be converted to NCHW; keep it in NHWC");
            } else if (name.endsWith(".GlobalPoolingLayer") && object.has("poolingDimensions")
                    && object.get("poolingDimensions").toString().equals("[1,2]")) {
                ArrayNode dims = object.putArray("poolingDimensions");
                dims.add(2).add(3);
            }
        }
        List<String> drop = new ArrayList<>();
        Iterator<Map.Entry<String, JsonNode>> fields = object.fields();
        while (fields.hasNext()) {
            Map.Entry<String, JsonNode> field = fields.next();
            JsonNode value = field.getValue();
            if (value instanceof TextNode && value.asText().equals("NHWC")) {
                field.setValue(new TextNode("NCHW"));
            } else if (value instanceof ObjectNode child && child.has(CLASS)
                    && child.get(CLASS).asText().equals(NchwToNhwcPreProcessor.class.getName())) {
                drop.add(field.getKey());
            } else {
                convert(value);
            }
        }
        for (String key : drop) {
            object.putNull(key);
        }
    }

    private static boolean isNhwcConvolution(String className) {
        if (className.equals(NhwcConvolution.class.getName())) {
            return true;
        }
        try {
            return NhwcConvolution.class.isAssignableFrom(Class.forName(className, false, ActivationLayouts.class.getClassLoader()));
        } catch (ClassNotFoundException e) {
            return false;
        }
    }
}
