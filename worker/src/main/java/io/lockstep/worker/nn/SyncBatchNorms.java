package io.lockstep.worker.nn;

import io.lockstep.worker.comm.Collective;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * Runtime wiring of the {@link SyncBatchNormalizationLayer}s of an initialized graph: attaching the
 * collective, taking part in a step without data, and communication metrics.
 *
 * <p><b>What the training loop must do</b>, per replica, on its training thread:
 * <ol>
 *   <li>Build the graph with sync layers ({@link BatchNormSwap#toSync(ComputationGraph)} or a
 *       configuration from {@link BatchNormSwap#toSync(org.deeplearning4j.nn.conf.ComputationGraphConfiguration)}),
 *       then {@link #attach(ComputationGraph, Collective)} the replica's collective. The collective is
 *       shared with the gradient exchange: both are used in a fixed order on one thread.</li>
 *   <li>Every step, every replica runs {@code fit} (or {@code computeGradientAndScore}): each sync
 *       layer all-reduces once in the forward (topological order) and once in the backward (reverse).
 *       {@code output(true, …)} and {@code score(ds, true)} also communicate and must run on all
 *       replicas; {@code output(false, …)} never does.</li>
 *   <li>Gradient exchange: AVERAGE the flattened gradient (as {@code AllReduceExchange} does) after
 *       backprop and before the updater. With equal local batches B, DL4J's updater then divides by B
 *       and the result is the global batch's mean gradient — identical to one replica with batch N·B.
 *       The running-statistic slots are identical on every replica, so averaging leaves them intact.
 *       With <em>unequal</em> local batches B_r (total B_g = Σ B_r) averaging is not enough: replica r
 *       must hand its updater G·B_r/B_g, where G = Σ_s g_s is the all-reduce SUM of the raw local
 *       gradients (the updater then divides by B_r, giving G/B_g everywhere) — except in the
 *       running-statistic slots ({@code *_mean}, {@code *_var}, {@code *_log10stdev}), which are
 *       identical on every replica and must reach the updater unchanged (AVERAGE, not SUM, for them).</li>
 *   <li>A replica with no example this step cannot run DL4J's {@code fit}: graphs reject a 0-example
 *       minibatch ("Length must be >= 1", even for {@code output}). It calls
 *       {@link #participateWithoutData(ComputationGraph)} instead, which takes part in every sync
 *       layer's two messages in DL4J's order, zeroes its flattened gradient and fills the
 *       running-statistic slots. It then joins the gradient exchange with that gradient and applies the
 *       same update as the others itself, since {@code fit} cannot run: scale as above for some B &gt; 0,
 *       call {@code graph.getUpdater().update(gradient, iteration, epoch, B, workspaceMgr)}, subtract the
 *       result from {@code graph.params()} and increment the iteration count, as DL4J's optimizer does.</li>
 * </ol>
 *
 * <p>Stateless utility; the graph and its layers belong to the calling thread.
 */
public final class SyncBatchNorms {

    private SyncBatchNorms() {
    }

    /** The graph's synchronized BatchNorm layers in topological (forward) order. */
    public static List<SyncBatchNormalizationLayer> layers(ComputationGraph graph) {
        Objects.requireNonNull(graph, "graph");
        GraphVertex[] vertices = graph.getVertices();
        if (vertices == null) {
            throw new IllegalStateException("graph is not initialized: call init() before looking for sync BatchNorm layers");
        }
        List<SyncBatchNormalizationLayer> found = new ArrayList<>();
        for (int index : graph.topologicalSortOrder()) {
            GraphVertex vertex = vertices[index];
            if (vertex.hasLayer()) {
                Layer layer = vertex.getLayer();
                if (layer instanceof SyncBatchNormalizationLayer) {
                    found.add((SyncBatchNormalizationLayer) layer);
                }
            }
        }
        return Collections.unmodifiableList(found);
    }

    /**
     * Sets {@code collective} on every sync BatchNorm layer of {@code graph} ({@code null} detaches:
     * the layers become plain BatchNorms).
     *
     * @return the number of layers attached; 0 means the graph has no sync layer (e.g. it was not swapped)
     */
    public static int attach(ComputationGraph graph, Collective collective) {
        List<SyncBatchNormalizationLayer> layers = layers(graph);
        for (SyncBatchNormalizationLayer layer : layers) {
            layer.attach(collective);
        }
        return layers.size();
    }

    /** Removes the collective from every sync BatchNorm layer; returns how many there were. */
    public static int detach(ComputationGraph graph) {
        return attach(graph, null);
    }

    /**
     * Takes part in one training step without any example: every sync layer joins its forward message
     * (topological order) and then its backward message (reverse order) contributing zeros, exactly as
     * the replicas that run {@code fit} do. Afterwards the graph's flattened gradient is zero except for
     * the running-statistic slots, which hold the same values as on every other replica.
     *
     * <p>Layers that are not sync BatchNorms do nothing here; if the graph holds no sync layer this
     * only zeroes the gradient.
     */
    public static void participateWithoutData(ComputationGraph graph) {
        List<SyncBatchNormalizationLayer> layers = layers(graph);
        if (graph.getFlattenedGradients() == null) {
            graph.initGradientsView();
        }
        INDArray gradient = graph.getFlattenedGradients();
        gradient.assign(0);
        for (SyncBatchNormalizationLayer layer : layers) {
            layer.forwardWithoutData();
        }
        for (int i = layers.size() - 1; i >= 0; i--) {
            layers.get(i).backwardWithoutData();
        }
    }

    /** Total wall time the graph's sync layers spent in the collective since the last reset, nanoseconds. */
    public static long communicationNanos(ComputationGraph graph) {
        long total = 0;
        for (SyncBatchNormalizationLayer layer : layers(graph)) {
            total += layer.communicationNanos();
        }
        return total;
    }

    /** Total number of all-reduce calls made by the graph's sync layers since the last reset. */
    public static long communications(ComputationGraph graph) {
        long total = 0;
        for (SyncBatchNormalizationLayer layer : layers(graph)) {
            total += layer.communications();
        }
        return total;
    }

    public static void resetCommunicationStats(ComputationGraph graph) {
        for (SyncBatchNormalizationLayer layer : layers(graph)) {
            layer.resetCommunicationStats();
        }
    }
}
