package io.lockstep.worker.train;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.graph.vertex.impl.LayerVertex;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.lang.reflect.Field;
import java.util.Map;
import java.util.function.IntConsumer;

/**
 * A "gradient ready" point inside DL4J's backward pass: after a layer vertex has computed its parameter
 * gradients, a listener learns the vertex's position in the graph's topological order.
 *
 * <p>DL4J's {@code ComputationGraph.calcBackpropGradients} walks the vertices in reverse topological
 * order and calls {@code doBackward} exactly once per vertex that back-propagates; a layer writes its
 * parameter gradients into its views of the graph's flat gradient inside that call and never touches
 * them again in the step. So when the listener hears position {@code p}, the gradients of every vertex
 * at position {@code p} or later are final. The hook replaces each {@link LayerVertex} of the graph by a
 * subclass that reports after {@code super.doBackward}; it wraps the same layer object, so parameters,
 * updater and serialization are untouched, and DL4J's own {@code instanceof LayerVertex} checks still
 * hold. Replacing vertices rather than re-implementing {@code calcBackpropGradients} keeps DL4J's
 * workspace handling, which that method is mostly made of, in DL4J.
 *
 * <p>Install once, after the last change to the graph's structure (BatchNorm swaps, freezing); the
 * listener runs on the training thread, inside backward, and must be quick.
 */
public final class BackwardProgress {
    private BackwardProgress() {
    }

    /**
     * Makes {@code graph} report each layer vertex whose backward pass has finished, by its position in
     * {@link ComputationGraph#topologicalSortOrder()}. Installing again replaces the previous listener.
     */
    public static void install(ComputationGraph graph, IntConsumer gradientReady) {
        GraphVertex[] vertices = graph.getVertices();
        int[] order = graph.topologicalSortOrder();
        int[] positionOf = new int[vertices.length];
        for (int p = 0; p < order.length; p++) {
            positionOf[order[p]] = p;
        }
        Map<String, GraphVertex> byName = verticesMap(graph);
        for (int i = 0; i < vertices.length; i++) {
            GraphVertex vertex = vertices[i];
            if (vertex instanceof Reporting reporting) {
                reporting.listener = gradientReady;
                continue;
            }
            if (!(vertex instanceof LayerVertex layerVertex) || vertex.getClass() != LayerVertex.class) {
                continue;
            }
            Reporting replacement = new Reporting(graph, layerVertex, positionOf[i], gradientReady);
            vertices[i] = replacement;
            byName.put(vertex.getVertexName(), replacement);
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, GraphVertex> verticesMap(ComputationGraph graph) {
        try {
            Field field = ComputationGraph.class.getDeclaredField("verticesMap");
            field.setAccessible(true);
            return (Map<String, GraphVertex>) field.get(graph);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("this DL4J version has no ComputationGraph.verticesMap: overlapping the "
                    + "gradient exchange with backward needs DL4J 1.0.0-M2.1; use --overlap off", e);
        }
    }

    /** A layer vertex that reports when its backward pass has finished. */
    private static final class Reporting extends LayerVertex {
        private final int position;
        private IntConsumer listener;

        Reporting(ComputationGraph graph, LayerVertex original, int position, IntConsumer listener) {
            super(graph, original.getVertexName(), original.getVertexIndex(), original.getInputVertices(),
                    original.getOutputVertices(), original.getLayer(), original.getLayerPreProcessor(),
                    original.isOutputVertex(), original.getDataType());
            setSetLayerInput(original.isSetLayerInput());
            this.position = position;
            this.listener = listener;
        }

        @Override
        public Pair<Gradient, INDArray[]> doBackward(boolean tbptt, LayerWorkspaceMgr workspaceMgr) {
            Pair<Gradient, INDArray[]> result = super.doBackward(tbptt, workspaceMgr);
            Layer layer = getLayer();
            if (layer.numParams() > 0) {
                listener.accept(position);
            }
            return result;
        }
    }
}
