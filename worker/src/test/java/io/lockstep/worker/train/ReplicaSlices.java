package io.lockstep.worker.train;

import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.List;

/** Test data for equivalence checks: replica r of N trains rows [r·B, (r+1)·B) of each global NCHW batch. */
public final class ReplicaSlices {
    private ReplicaSlices() {
    }

    public static BatchSource source(List<DataSet> global, int replica, int batch) {
        return new BatchSource() {
            @Override
            public int steps() {
                return global.size();
            }

            @Override
            public DataSet batch(int step) {
                DataSet g = global.get(step);
                INDArrayIndex rows = NDArrayIndex.interval((long) replica * batch, (long) (replica + 1) * batch);
                return new DataSet(g.getFeatures().get(rows, NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all()).dup(),
                        g.getLabels().get(rows, NDArrayIndex.all()).dup());
            }
        };
    }
}
