package io.lockstep.worker.nn;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.listeners.CollectScoresIterationListener;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

import static io.lockstep.worker.nn.BatchNormTestSupport.assertClose;
import static io.lockstep.worker.nn.BatchNormTestSupport.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BatchNormSwapTest {

    @Test
    void configurationSwapReplacesEveryBatchNormAndKeepsItsSettings() {
        ComputationGraphConfiguration plain = SmallConvNet.conf(DataType.FLOAT, new Adam(1e-3));
        ComputationGraphConfiguration sync = BatchNormSwap.toSync(plain);
        assertEquals(0, BatchNormSwap.countSync(plain), "input configuration untouched");
        assertEquals(2, BatchNormSwap.countSync(sync));
        for (String name : new String[] {"bn1", "bn2"}) {
            BatchNormalization before = layer(plain, name);
            SyncBatchNormalization after = (SyncBatchNormalization) layer(sync, name);
            assertTrue(after.isUnbiasedRunningVariance(), "PyTorch running variance by default");
            assertEquals(before, after.toPlain(), name + ": every DL4J setting carried over");
            assertEquals(before.getNOut(), after.getNOut());
            assertEquals(before.getIUpdater(), after.getIUpdater());
            assertEquals(before.isUseLogStd(), after.isUseLogStd());
        }
        // Lombok's equals must not treat the two forms as equal, in either direction.
        assertNotEquals(layer(plain, "bn1"), layer(sync, "bn1"));
        assertNotEquals(layer(sync, "bn1"), layer(plain, "bn1"));
        assertNotEquals(SyncBatchNormalization.from(layer(plain, "bn1"), true),
                SyncBatchNormalization.from(layer(plain, "bn1"), false));

        ComputationGraphConfiguration dl4jVariance = BatchNormSwap.toSync(plain, false);
        String json = dl4jVariance.toJson();
        assertTrue(json.contains(SyncBatchNormalization.class.getName()), "the layer class is in the JSON");
        assertTrue(json.contains("\"unbiasedRunningVariance\" : false"), "the non-default mode is in the JSON");
        ComputationGraphConfiguration roundTrip = ComputationGraphConfiguration.fromJson(json);
        assertEquals(dl4jVariance, roundTrip, "JSON round trip keeps the class and the running-variance mode");
        assertFalse(((SyncBatchNormalization) layer(roundTrip, "bn1")).isUnbiasedRunningVariance());
        assertEquals(sync, ComputationGraphConfiguration.fromJson(sync.toJson()));
        assertEquals(plain, BatchNormSwap.toPlain(sync), "toPlain undoes toSync");
        assertFalse(((SyncBatchNormalization) layer(BatchNormSwap.toSync(plain, false), "bn2")).isUnbiasedRunningVariance());
    }

    /**
     * In double precision: the conv bias feeding a BatchNorm has a true gradient of 0, so its computed
     * gradient is rounding noise, which Adam scales up to ±lr; in float the two implementations' noise
     * differs visibly after one step, in double it stays far below the tolerance.
     */
    @Test
    void graphSwapKeepsParametersUpdaterStateCountersAndListeners() {
        DataType previousDefault = Nd4j.dataType();
        DataType previousFloatingPoint = Nd4j.defaultFloatingPointType();
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
        try {
            swapAndContinue();
        } finally {
            Nd4j.setDefaultDataTypes(previousDefault, previousFloatingPoint);
        }
    }

    private void swapAndContinue() {
        DataType type = DataType.DOUBLE;
        ComputationGraph plain = new ComputationGraph(SmallConvNet.conf(type, new Adam(1e-2)));
        plain.init();
        CollectScoresIterationListener listener = new CollectScoresIterationListener();
        plain.setListeners(listener);
        for (int step = 0; step < 3; step++) {
            plain.fit(SmallConvNet.data(6, step, type));
        }
        plain.incrementEpochCount();

        ComputationGraph sync = BatchNormSwap.toSync(plain, false);
        assertEquals(2, SyncBatchNorms.layers(sync).size());
        assertTrue(sync.getLayer("bn1") instanceof SyncBatchNormalizationLayer);
        assertArrayEquals(values(plain.params()), values(sync.params()), 0.0, "parameters");
        assertArrayEquals(values(plain.getUpdater().getStateViewArray()), values(sync.getUpdater().getStateViewArray()),
                0.0, "Adam state");
        assertEquals(3, sync.getIterationCount());
        assertEquals(1, sync.getEpochCount());
        assertSame(listener, sync.getListeners().iterator().next());

        DataSet probe = SmallConvNet.data(5, 99, type);
        assertArrayEquals(values(plain.outputSingle(false, probe.getFeatures())),
                values(sync.outputSingle(false, probe.getFeatures())), 0.0, "inference is DL4J's own path");

        // One more step on each: same update (Adam's bias correction continues at iteration 3).
        DataSet next = SmallConvNet.data(6, 50, type);
        plain.fit(next);
        sync.fit(next);
        assertClose("parameters after one more step", plain.params(), sync.params(), 1e-9);
        assertEquals(plain.getIterationCount(), sync.getIterationCount());

        ComputationGraph back = BatchNormSwap.toPlain(sync);
        assertEquals(0, SyncBatchNorms.layers(back).size());
        assertEquals(org.deeplearning4j.nn.layers.normalization.BatchNormalization.class, back.getLayer("bn2").getClass());
        assertArrayEquals(values(sync.params()), values(back.params()), 0.0);
        assertEquals(sync.getIterationCount(), back.getIterationCount());
    }

    private static BatchNormalization layer(ComputationGraphConfiguration conf, String name) {
        return (BatchNormalization) ((LayerVertex) conf.getVertices().get(name)).getLayerConf().getLayer();
    }
}
