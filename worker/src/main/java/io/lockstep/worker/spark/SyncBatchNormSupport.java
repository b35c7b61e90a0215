package io.lockstep.worker.spark;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.nn.BatchNormSwap;
import io.lockstep.worker.nn.SyncBatchNorms;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;

/**
 * Switches a replica's BatchNorm layers to Lockstep's layer for training — synchronized, or per replica
 * for {@code --norm batch} — and back to DL4J's for saving.
 * Checkpoints always hold plain DL4J BatchNorm, so a saved model loads anywhere — one JVM, no
 * collective, no Lockstep classes needed — and the next stage re-synchronizes it.
 */
final class SyncBatchNormSupport {
    private SyncBatchNormSupport() {
    }

    static ComputationGraph toSync(ComputationGraph graph, Collective collective) {
        if (!hasBatchNorm(graph)) {
            return graph;
        }
        ComputationGraph synced = BatchNormSwap.toSync(graph);
        SyncBatchNorms.attach(synced, collective);
        return synced;
    }

    /**
     * Per-replica BatchNorm (no collective) on Lockstep's BatchNorm layer, which computes exactly what
     * DL4J's does (biased running variance) on faster kernels than DL4J's OneDNN helper.
     */
    static ComputationGraph toLocal(ComputationGraph graph) {
        if (!hasBatchNorm(graph)) {
            return graph;
        }
        return BatchNormSwap.toSync(graph, false);
    }

    static ComputationGraph toPlain(ComputationGraph graph) {
        if (SyncBatchNorms.layers(graph).isEmpty()) {
            return graph;
        }
        return BatchNormSwap.toPlain(graph);
    }

    private static boolean hasBatchNorm(ComputationGraph graph) {
        for (GraphVertex vertex : graph.getConfiguration().getVertices().values()) {
            if (vertex instanceof LayerVertex layer && layer.getLayerConf().getLayer() instanceof BatchNormalization) {
                return true;
            }
        }
        return false;
    }
}
