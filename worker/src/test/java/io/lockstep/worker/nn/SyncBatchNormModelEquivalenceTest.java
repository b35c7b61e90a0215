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
        assertEquals(2, BatchNormSwap.countSync(sync));
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

    /** Control: the same comparison with per-replica (unsynchronized) BatchNorm must fail, or the test could not. */
    @Test
    void withoutSynchronizationTheReplicasDoNotMatch() throws Exception {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
        ComputationGraphConfiguration plain = SmallConvNet.conf(DataType.DOUBLE, new Adam(0.02));
        AssertionError mismatch = org.junit.jupiter.api.Assertions.assertThrows(AssertionError.class,
                () -> compare(plain, plain, DataType.DOUBLE, 1e-3));
        LOG.info("control without sync BN: {}", mismatch.getMessage());
    }

    /**
     * Graph level, 3 replicas, one without data: ranks 0 and 1 run forward/backward on 3 and 2 examples,
     * rank 2 calls {@link SyncBatchNorms#participateWithoutData}. The sum of the three raw gradients
     * (before the updater's division) equals one replica's gradient on all 5 examples, and the
     * running-statistic slots are the same on every replica, including the empty one.
     */
    @Test
    void aReplicaWithoutDataParticipatesAndTheGradientSumIsTheGlobalBatchGradient() throws Exception {
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
        ComputationGraphConfiguration plain = SmallConvNet.conf(DataType.DOUBLE, new Adam(0.02));
        DataSet global = SmallConvNet.data(5, 7, DataType.DOUBLE);
        int[][] slices = {{0, 3}, {3, 5}, {5, 5}};

        ComputationGraph reference = new ComputationGraph(ComputationGraphConfiguration.fromJson(plain.toJson()));
        reference.init();
        INDArray initialParams = reference.params().dup();
        reference.setInputs(global.getFeatures());
        reference.setLabels(global.getLabels());
        reference.computeGradientAndScore();
        INDArray referenceGradient = reference.gradient().gradient().dup();

        String syncJson = BatchNormSwap.toSync(plain).toJson();
        ThreadCollectives group = ThreadCollectives.create(slices.length, 30_000);
        List<INDArray> gradients = group.runOnAllRanks(120_000, collective -> {
            int[] slice = slices[collective.rank()];
            ComputationGraph replica = new ComputationGraph(ComputationGraphConfiguration.fromJson(syncJson));
            replica.init(initialParams.dup(), false);
            SyncBatchNorms.attach(replica, collective);
            if (slice[1] > slice[0]) {
                DataSet mine = SmallConvNet.slice(global, slice[0], slice[1]);
                replica.setInputs(mine.getFeatures());
                replica.setLabels(mine.getLabels());
                replica.computeGradientAndScore();
            } else {
                SyncBatchNorms.participateWithoutData(replica);
            }
            return replica.getFlattenedGradients().dup();
        });

        Map<String, INDArray> expected = byParameter(syncJson, referenceGradient);
        List<Map<String, INDArray>> perRank = new ArrayList<>();
        for (INDArray gradient : gradients) {
            perRank.add(byParameter(syncJson, gradient));
        }
        for (Map.Entry<String, INDArray> entry : expected.entrySet()) {
            String key = entry.getKey();
            if (key.endsWith("_mean") || key.endsWith("_log10stdev") || key.endsWith("_var")) {
                for (int r = 0; r < perRank.size(); r++) {
                    // Unbiased (default) vs DL4J's biased running variance differ: compare the mean only.
                    if (key.endsWith("_mean")) {
                        assertClose("rank " + r + " " + key, entry.getValue(), perRank.get(r).get(key), 1e-10);
                    }
                    assertArrayEquals(values(perRank.get(0).get(key)), values(perRank.get(r).get(key)), 0.0,
                            key + " identical on rank " + r);
                }
            } else {
                INDArray sum = perRank.get(0).get(key).dup();
                for (int r = 1; r < perRank.size(); r++) {
                    sum.addi(perRank.get(r).get(key));
                }
                assertClose("sum over replicas of " + key, entry.getValue(), sum, 1e-10);
                assertArrayEquals(new double[(int) sum.length()], values(perRank.get(2).get(key)), 0.0,
                        "the empty replica contributes zero to " + key);
            }
        }
    }

    /** The flattened vector {@code flat} split by parameter ("vertex_key"), using the graph's own layout. */
    private static Map<String, INDArray> byParameter(String confJson, INDArray flat) {
        ComputationGraph layout = new ComputationGraph(ComputationGraphConfiguration.fromJson(confJson));
        layout.init(flat.dup(), false);
        return layout.paramTable();
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
        int syncLayers = BatchNormSwap.countSync(syncConf);
        ThreadCollectives group = ThreadCollectives.create(REPLICAS, 30_000);
        List<INDArray> replicaParams = group.runOnAllRanks(120_000, collective -> {
            int rank = collective.rank();
            ComputationGraph replica = new ComputationGraph(ComputationGraphConfiguration.fromJson(syncJson));
            replica.init(initialParams.dup(), false);
            assertEquals(syncLayers, SyncBatchNorms.attach(replica, collective));
            replica.setListeners(new SmallConvNet.AveragingListener(collective));
            for (int step = 0; step < STEPS; step++) {
                collective.position(0, step);
                replica.fit(SmallConvNet.slice(globalBatches.get(step), rank * PER_REPLICA, (rank + 1) * PER_REPLICA));
            }
            // One message per sync layer in the forward and one in the backward of every step.
            assertEquals(2L * syncLayers * STEPS, SyncBatchNorms.communications(replica));
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
