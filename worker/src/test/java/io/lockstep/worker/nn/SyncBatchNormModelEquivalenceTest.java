package io.lockstep.worker.nn;

import io.lockstep.worker.testing.ThreadCollectives;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.lockstep.worker.nn.BatchNormTestSupport.assertClose;
import static io.lockstep.worker.nn.BatchNormTestSupport.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The distributed contract at model level: N replicas × batch B with sync BatchNorm and the gradient
 * averaged after backprop end with the same parameters and running statistics as one replica × N·B.
 * Why averaging is the right exchange: each replica's gradient is the sum over its B examples of the
 * global loss's per-example terms (sync BN makes every example's term use global statistics), the
 * updater divides by B, so the average over N replicas is Σ_all/(N·B) — one replica's mean over N·B.
 */
class SyncBatchNormModelEquivalenceTest {
    private static final Logger LOG = LoggerFactory.getLogger(SyncBatchNormModelEquivalenceTest.class);
    private static final int REPLICAS = 2;
    private static final int PER_REPLICA = 4;
    private static final int STEPS = 3;

    private DataType previousDefault;
    private DataType previousFloatingPoint;

    @BeforeEach
    void rememberDefaults() {
        previousDefault = Nd4j.dataType();
        previousFloatingPoint = Nd4j.defaultFloatingPointType();
    }

    @AfterEach
    void restoreDefaults() {
        Nd4j.setDefaultDataTypes(previousDefault, previousFloatingPoint);
    }

    @Test
    void twoReplicasWithSyncBatchNormEqualOneReplicaWithPlainBatchNormOnTheDoubleBatch() throws Exception {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
        ComputationGraphConfiguration plain = SmallConvNet.conf(DataType.DOUBLE, new Adam(0.02));
        // DL4J's biased running variance, so the running statistics can be compared with plain BN's.
        ComputationGraphConfiguration sync = BatchNormSwap.toSync(plain, false);
        compare(plain, sync, DataType.DOUBLE, 1e-8);
    }

    @Test
    void withPyTorchRunningVarianceTwoReplicasEqualOneUnattachedSyncReplica() throws Exception {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
        ComputationGraphConfiguration sync = BatchNormSwap.toSync(SmallConvNet.conf(DataType.DOUBLE, new Adam(0.02)));
        compare(sync, sync, DataType.DOUBLE, 1e-8);
    }

    @Test
    void floatTwoReplicasEqualOneReplicaWithPlainBatchNorm() throws Exception {
        ComputationGraphConfiguration plain = SmallConvNet.conf(DataType.FLOAT, new Sgd(0.1));
        compare(plain, BatchNormSwap.toSync(plain, false), DataType.FLOAT, 1e-4);
    }

    private void compare(ComputationGraphConfiguration referenceConf, ComputationGraphConfiguration syncConf,
                         DataType type, double tolerance) throws Exception {
        List<DataSet> globalBatches = new ArrayList<>();
        for (int step = 0; step < STEPS; step++) {
            globalBatches.add(SmallConvNet.data(REPLICAS * PER_REPLICA, 100 + step, type));
        }
        ComputationGraph reference = new ComputationGraph(ComputationGraphConfiguration.fromJson(referenceConf.toJson()));
        reference.init();
        INDArray initialParams = reference.params().dup();
        for (DataSet batch : globalBatches) {
            reference.fit(batch);
        }

        String syncJson = syncConf.toJson();
        ThreadCollectives group = ThreadCollectives.create(REPLICAS, 30_000);
        List<INDArray> replicaParams = group.runOnAllRanks(120_000, collective -> {
            int rank = collective.rank();
            ComputationGraph replica = new ComputationGraph(ComputationGraphConfiguration.fromJson(syncJson));
            replica.init(initialParams.dup(), false);
            assertEquals(2, SyncBatchNorms.attach(replica, collective));
            replica.setListeners(new SmallConvNet.AveragingListener(collective));
            for (int step = 0; step < STEPS; step++) {
                collective.position(0, step);
                replica.fit(SmallConvNet.slice(globalBatches.get(step), rank * PER_REPLICA, (rank + 1) * PER_REPLICA));
            }
            // 2 sync layers × (forward + backward) per step.
            assertEquals(2L * 2 * STEPS, SyncBatchNorms.communications(replica));
            return replica.params().dup();
        });

        assertArrayEquals(values(replicaParams.get(0)), values(replicaParams.get(1)), 0.0,
                "replicas must hold bit-identical parameters");
        Map<String, INDArray> referenceTable = reference.paramTable();
        ComputationGraph layout = new ComputationGraph(ComputationGraphConfiguration.fromJson(syncJson));
        layout.init(replicaParams.get(0), false);
        for (Map.Entry<String, INDArray> entry : layout.paramTable().entrySet()) {
            assertClose(entry.getKey() + " after " + STEPS + " steps", referenceTable.get(entry.getKey()), entry.getValue(),
                    tolerance);
        }
        LOG.info("{}: max scaled parameter error vs one replica on the double batch: {}", type,
                BatchNormTestSupport.maxScaledError(reference.params(), replicaParams.get(0)));
    }
}
