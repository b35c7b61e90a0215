package io.lockstep.worker.spark;

import io.lockstep.worker.comm.Collective;
import org.deeplearning4j.nn.graph.ComputationGraph;

/** PENDING: wired to SyncBatchNormalization once it lands. */
final class SyncBatchNormSupport {
    private SyncBatchNormSupport() {
    }

    static ComputationGraph toSync(ComputationGraph graph, Collective collective) {
        throw new UnsupportedOperationException("PENDING sync BN wiring");
    }

    static ComputationGraph toPlain(ComputationGraph graph) {
        return graph;
    }
}
