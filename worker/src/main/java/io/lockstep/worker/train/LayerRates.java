package io.lockstep.worker.train;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.deeplearning4j.nn.updater.graph.ComputationGraphUpdater;
import org.nd4j.linalg.learning.config.IUpdater;

import java.util.Map;

/**
 * The schedule's learning rate on every layer, each step, times the layer's multiplier
 * ({@code --lr-multipliers}; none: 1 for every layer), so warm-up and decay apply to every layer alike.
 *
 * <p>DL4J keeps one updater per block of consecutive parameters with equal settings. {@link #separate}
 * gives layers with different multipliers different settings once per stage, so each block holds layers
 * of one multiplier; {@link #apply} then sets each block's rate every step without rebuilding anything.
 * (DL4J's own {@code setLearningRate} rebuilds the network's updater and copies its state on every call:
 * thousands of short-lived arrays a step, each with ND4J's native bookkeeping for the collector to clear.)
 * Layers not in the map, and frozen layers (no learning rate), keep multiplier 1. Training thread only.
 */
public final class LayerRates {
    private final Map<String, Double> multipliers;

    public LayerRates(Map<String, Double> multipliers) {
        this.multipliers = Map.copyOf(multipliers);
    }

    private double multiplier(String layer) {
        return multipliers.getOrDefault(layer, 1.0);
    }

    /**
     * {@code graph}, or a new graph equal to it (parameters, optimizer state, counts, listeners) whose
     * layers' updaters are set to {@code rate} times their multiplier.
     */
    public ComputationGraph separate(ComputationGraph graph, double rate) {
        if (multipliers.isEmpty()) {
            return graph;
        }
        ComputationGraphConfiguration conf = graph.getConfiguration().clone();
        for (org.deeplearning4j.nn.conf.graph.GraphVertex vertex : conf.getVertices().values()) {
            if (vertex instanceof LayerVertex layerVertex && layerVertex.getLayerConf().getLayer() instanceof BaseLayer layer) {
                String name = layer.getLayerName();
                layer.setIUpdater(withRate(layer.getIUpdater(), rate * multiplier(name)));
                layer.setBiasUpdater(withRate(layer.getBiasUpdater(), rate * multiplier(name)));
            }
        }
        return FrozenLayers.rebuild(graph, conf);
    }

    private static void setRate(IUpdater updater, double rate) {
        if (updater != null && updater.hasLearningRate()) {
            updater.setLrAndSchedule(rate, null);
        }
    }

    private static IUpdater withRate(IUpdater updater, double rate) {
        if (updater == null || !updater.hasLearningRate()) {
            return updater;
        }
        IUpdater copy = updater.clone();
        copy.setLrAndSchedule(rate, null);
        return copy;
    }

    /**
     * Sets every updater block's rate to {@code rate} times its layers' multiplier, for the coming step,
     * and every layer's configured rate likewise (what a checkpoint saves).
     */
    public void apply(ComputationGraph graph, double rate) {
        for (org.deeplearning4j.nn.api.Layer layer : graph.getLayers()) {
            if (layer.conf().getLayer() instanceof BaseLayer conf) {
                double layerRate = rate * multiplier(conf.getLayerName());
                setRate(conf.getIUpdater(), layerRate);
                setRate(conf.getBiasUpdater(), layerRate);
            }
        }
        ComputationGraphUpdater updater = graph.getUpdater(true);
        for (UpdaterBlock block : updater.getUpdaterBlocks()) {
            IUpdater config = block.getGradientUpdater().getConfig();
            if (config.hasLearningRate()) {
                String layer = block.getLayersAndVariablesInBlock().get(0).getLayer().getConfig().getLayerName();
                config.setLrAndSchedule(rate * multiplier(layer), null);
            }
        }
    }
}
