package io.lockstep.driver.train;

import io.lockstep.driver.cli.UserError;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.util.ArrayList;
import java.util.List;

/** Facts about a caller's network that the job checks before any stage starts. */
public final class Networks {
    /** The architecture name recorded for a network the caller built. */
    public static final String CUSTOM = "custom";

    private Networks() {
    }

    /** Units of the single output layer. */
    public static int outputSize(ComputationGraph graph) {
        List<String> outputs = graph.getConfiguration().getNetworkOutputs();
        if (outputs.size() != 1) {
            throw new UserError("the network has " + outputs.size() + " outputs " + outputs
                    + "; Lockstep trains classifiers with exactly one output layer");
        }
        GraphVertex vertex = graph.getConfiguration().getVertices().get(outputs.get(0));
        if (vertex instanceof LayerVertex layer && layer.getLayerConf().getLayer() instanceof FeedForwardLayer output) {
            return (int) output.getNOut();
        }
        throw new UserError("the network's output " + outputs.get(0) + " is not a layer with a number of outputs (nOut);"
                + " end the network with an OutputLayer");
    }

    /**
     * The network as an initialized {@code ComputationGraph}: the graph itself, or a multi-layer network
     * converted with DL4J's {@code toComputationGraph()} (same layers, parameters and order).
     */
    public static ComputationGraph asGraph(Object network) {
        if (network instanceof ComputationGraph graph) {
            if (graph.params() == null || graph.params().isEmpty()) {
                graph.init();
            }
            return graph;
        }
        if (network instanceof MultiLayerNetwork mln) {
            if (mln.params() == null || mln.params().isEmpty()) {
                mln.init();
            }
            ComputationGraph graph = mln.toComputationGraph();
            graph.setListeners(mln.getListeners() == null ? List.of() : new ArrayList<>(mln.getListeners()));
            return graph;
        }
        throw new IllegalArgumentException("model: give a ComputationGraph, a MultiLayerNetwork or a zoo model name, got "
                + (network == null ? "null" : network.getClass().getName()));
    }

    /** A copy of {@code original} holding the parameters of {@code trained}, its {@code toComputationGraph()} form. */
    public static MultiLayerNetwork copyInto(MultiLayerNetwork original, ComputationGraph trained) {
        MultiLayerNetwork copy = original.clone();
        // A copy of the list: DL4J's clone may share it, and setListeners clears the target list first.
        copy.setListeners(original.getListeners() == null ? List.of() : new ArrayList<>(original.getListeners()));
        copy.setParams(trained.params());
        if (copy.getUpdater() != null && copy.getUpdater().getStateViewArray() != null
                && trained.getUpdater() != null && trained.getUpdater().getStateViewArray() != null
                && copy.getUpdater().getStateViewArray().length() == trained.getUpdater().getStateViewArray().length()) {
            copy.getUpdater().getStateViewArray().assign(trained.getUpdater().getStateViewArray());
        }
        copy.setIterationCount(trained.getConfiguration().getIterationCount());
        copy.setEpochCount(trained.getConfiguration().getEpochCount());
        return copy;
    }
}
