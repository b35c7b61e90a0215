package io.lockstep.worker.spark;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.nn.BatchNormSwap;
import io.lockstep.worker.nn.ConvolutionKernels;
import io.lockstep.worker.nn.ConvolutionSwap;
import io.lockstep.worker.nn.SyncBatchNorms;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;

/**
 * Switches a replica's BatchNorm layers to Lockstep's layer for training — synchronized, or per replica
 * for {@code --norm batch} — and back to DL4J's for saving, with its NHWC convolutions back on DL4J's path.
 * Checkpoints always hold plain DL4J BatchNorm, so a saved model loads anywhere — one JVM, no
 * collective, no worker classes (the models module's layer classes its configuration names suffice) —
 * and the next stage re-synchronizes it.
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

    /**
     * The replica's graph in the form checkpoints hold: DL4J's BatchNorm, and NHWC convolutions on DL4J's
     * path ({@link ConvolutionKernels#DL4J}), so no worker class is needed to load it.
     */
    static ComputationGraph toPlain(ComputationGraph graph) {
        ComputationGraph plain = ConvolutionSwap.apply(graph, ConvolutionKernels.DL4J);
        if (SyncBatchNorms.layers(plain).isEmpty()) {
            return plain;
        }
        return BatchNormSwap.toPlain(plain);
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
