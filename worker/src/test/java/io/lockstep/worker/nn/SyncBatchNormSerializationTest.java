package io.lockstep.worker.nn;

import io.lockstep.worker.testing.ThreadCollectives;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;

import java.io.File;
import java.nio.file.Path;
import java.util.List;

import static io.lockstep.worker.nn.BatchNormTestSupport.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class SyncBatchNormSerializationTest {
    private static final int REPLICAS = 2;
    private static final int PER_REPLICA = 3;

    /**
     * Two replicas train with sync BN; rank 0's model is saved with ModelSerializer mid-training and
     * loaded in a plain single-JVM setting with no collective: same inference outputs, parameters and
     * updater state. Then both replicas load that checkpoint, re-attach, and continue: bit-identical to
     * the replicas that never saved.
     */
    @Test
    void savedSyncModelLoadsWithoutCollectiveAndResumesIdentically(@TempDir Path directory) throws Exception {
        ComputationGraphConfiguration conf = BatchNormSwap.toSync(SmallConvNet.conf(DataType.FLOAT, new Adam(1e-2)));
        ComputationGraph initial = new ComputationGraph(conf);
        initial.init();
        INDArray initialParams = initial.params().dup();
        File checkpoint = directory.resolve("sync-bn.zip").toFile();
        String json = conf.toJson();

        List<INDArray[]> results = ThreadCollectives.create(REPLICAS, 30_000).runOnAllRanks(120_000, collective -> {
            int rank = collective.rank();
            ComputationGraph graph = new ComputationGraph(ComputationGraphConfiguration.fromJson(json));
            graph.init(initialParams.dup(), false);
            SyncBatchNorms.attach(graph, collective);
            graph.setListeners(new SmallConvNet.AveragingListener(collective));
            for (int step = 0; step < 2; step++) {
                graph.fit(mine(step, rank));
            }
            if (rank == 0) {
                ModelSerializer.writeModel(graph, checkpoint, true);
            }
            collective.barrier();
            ComputationGraph resumed = ModelSerializer.restoreComputationGraph(checkpoint, true);
            SyncBatchNorms.attach(resumed, collective);
            resumed.setListeners(new SmallConvNet.AveragingListener(collective));
            for (int step = 2; step < 4; step++) {
                graph.fit(mine(step, rank));
                resumed.fit(mine(step, rank));
            }
            return new INDArray[] {graph.params().dup(), resumed.params().dup(),
                    graph.getUpdater().getStateViewArray().dup(), resumed.getUpdater().getStateViewArray().dup()};
        });
        for (INDArray[] rank : results) {
            assertArrayEquals(values(rank[0]), values(rank[1]), 0.0, "continued after save/load = never saved");
            assertArrayEquals(values(rank[2]), values(rank[3]), 0.0, "updater state after save/load");
        }

        // A single JVM, no collective anywhere: inference from the checkpoint.
        ComputationGraph loaded = ModelSerializer.restoreComputationGraph(checkpoint, false);
        assertEquals(2, SyncBatchNorms.layers(loaded).size());
        for (SyncBatchNormalizationLayer layer : SyncBatchNorms.layers(loaded)) {
            assertNull(layer.collective());
        }
        assertEquals(2, loaded.getIterationCount());
        ComputationGraph reloadedTwice = ModelSerializer.restoreComputationGraph(checkpoint, false);
        DataSet probe = SmallConvNet.data(7, 1234, DataType.FLOAT);
        INDArray expected = BatchNormSwap.toPlain(reloadedTwice).outputSingle(false, probe.getFeatures());
        assertArrayEquals(values(expected), values(loaded.outputSingle(false, probe.getFeatures())), 0.0,
                "inference of the loaded sync model equals plain BatchNorm with the same parameters");
    }

    private static DataSet mine(int step, int rank) {
        DataSet global = SmallConvNet.data(REPLICAS * PER_REPLICA, 500 + step, DataType.FLOAT);
        return SmallConvNet.slice(global, rank * PER_REPLICA, (rank + 1) * PER_REPLICA);
    }
}
