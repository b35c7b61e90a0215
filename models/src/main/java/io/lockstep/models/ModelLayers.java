package io.lockstep.models;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The layers of a model that hold parameters, in the order data flows through them, and the names by
 * which a user picks a boundary among them (freezing, per-layer learning rates).
 *
 * <p>A boundary is a layer (vertex) name, or a group: a name prefix that ends where a vertex name has an
 * underscore, so {@code layer3} names {@code layer3_0_conv1 … layer3_2_bn2} but not {@code layer30_…}.
 * A layer's <em>stage</em> is its first such group ({@code layer3}); for a model without underscores every
 * layer is its own stage. {@code none} and {@code all} are boundaries too.
 *
 * <p>Immutable; depends only on the graph's configuration, so it is identical on every replica.
 */
public final class ModelLayers {
    public static final String NONE = "none";
    public static final String ALL = "all";

    /**
     * @param name   vertex name
     * @param stage  the first group of the name
     * @param type   the layer's configuration class, e.g. {@code ConvolutionLayer}
     * @param shapes parameter key to shape, e.g. {@code W -> [16, 3, 3, 3]}
     * @param params number of parameters, running statistics included
     */
    public record Layer(String name, String stage, String type, Map<String, long[]> shapes, long params) {
    }

    private final List<Layer> layers;
    private final Set<String> heads;

    private ModelLayers(List<Layer> layers, Set<String> heads) {
        this.layers = List.copyOf(layers);
        this.heads = Set.copyOf(heads);
    }

    /** The layers of an initialized graph. */
    public static ModelLayers of(ComputationGraph graph) {
        List<Layer> layers = new ArrayList<>();
        GraphVertex[] vertices = graph.getVertices();
        for (int index : graph.topologicalSortOrder()) {
            GraphVertex vertex = vertices[index];
            if (!vertex.hasLayer() || vertex.numParams() == 0) {
                continue;
            }
            Map<String, long[]> shapes = new java.util.LinkedHashMap<>();
            for (Map.Entry<String, INDArray> param : vertex.paramTable(false).entrySet()) {
                shapes.put(param.getKey(), param.getValue().shape());
            }
            layers.add(new Layer(vertex.getVertexName(), stageOf(vertex.getVertexName()),
                    vertex.getLayer().conf().getLayer().getClass().getSimpleName(), shapes, vertex.numParams()));
        }
        return new ModelLayers(layers, new LinkedHashSet<>(graph.getConfiguration().getNetworkOutputs()));
    }

    static String stageOf(String vertex) {
        int underscore = vertex.indexOf('_');
        return underscore > 0 ? vertex.substring(0, underscore) : vertex;
    }

    public List<Layer> layers() {
        return layers;
    }

    /** The stages in the order data reaches them. */
    public List<String> stages() {
        return layers.stream().map(Layer::stage).distinct().toList();
    }

    /** The output layers (the classification head; two for a model with an auxiliary classifier). */
    public Set<String> heads() {
        return heads;
    }

    public boolean isBoundary(String name) {
        return name.equals(NONE) || name.equals(ALL) || layers.stream().anyMatch(l -> matches(l.name(), name));
    }

    /** Whether layer {@code layer} belongs to the group or layer {@code boundary}. */
    public static boolean matches(String layer, String boundary) {
        return layer.equals(boundary) || layer.startsWith(boundary + "_");
    }

    /**
     * The layers up to and including the last one of {@code boundary}, in flow order; empty for
     * {@code none}, every layer for {@code all}.
     *
     * @throws IllegalArgumentException naming the valid boundaries when {@code boundary} names no layer
     */
    public List<String> upTo(String boundary) {
        if (boundary.equals(NONE)) {
            return List.of();
        }
        if (boundary.equals(ALL)) {
            return layers.stream().map(Layer::name).toList();
        }
        int last = -1;
        for (int i = 0; i < layers.size(); i++) {
            if (matches(layers.get(i).name(), boundary)) {
                last = i;
            }
        }
        if (last < 0) {
            throw new IllegalArgumentException(unknown(boundary));
        }
        return layers.subList(0, last + 1).stream().map(Layer::name).toList();
    }

    /**
     * The layers before the first one of {@code boundary}, in flow order: what stays frozen once
     * {@code boundary} and every later layer train; empty for {@code all}.
     *
     * @throws IllegalArgumentException naming the valid boundaries when {@code boundary} names no layer
     */
    public List<String> before(String boundary) {
        if (boundary.equals(ALL)) {
            return List.of();
        }
        for (int i = 0; i < layers.size(); i++) {
            if (matches(layers.get(i).name(), boundary)) {
                return layers.subList(0, i).stream().map(Layer::name).toList();
            }
        }
        throw new IllegalArgumentException(unknown(boundary));
    }

    /** The message for a name that is no layer or stage, listing the stages and where to find the layers. */
    public String unknown(String boundary) {
        return "'" + boundary + "' is no layer or stage of this model; stages: " + String.join(", ", stages())
                + ", or none/all (every layer name: lockstep models --layers MODEL)";
    }

    /** A table for the console: one row per layer with its stage, type, parameter count and shapes. */
    public String table() {
        StringBuilder out = new StringBuilder(String.format("%-4s %-36s %-14s %-26s %12s  %s%n", "#", "layer", "stage", "type",
                "params", "shapes"));
        for (int i = 0; i < layers.size(); i++) {
            Layer layer = layers.get(i);
            List<String> shapes = new ArrayList<>();
            layer.shapes().forEach((key, shape) -> shapes.add(key + Arrays.toString(shape)));
            out.append(String.format("%-4d %-36s %-14s %-26s %,12d  %s%s%n", i, layer.name(), layer.stage(), layer.type(),
                    layer.params(), String.join(" ", shapes), heads.contains(layer.name()) ? "  (head)" : ""));
        }
        return out.toString();
    }
}
