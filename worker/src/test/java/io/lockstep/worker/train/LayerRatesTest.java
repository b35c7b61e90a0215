package io.lockstep.worker.train;

import io.lockstep.models.Normalization;
import io.lockstep.worker.nn.BatchNormSwap;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.updater.graph.ComputationGraphUpdater;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A replica applies the learning-rate schedule to its updater in place: it trains exactly the parameters
 * DL4J's own {@code setLearningRate} (which rebuilds the updater every call) trains, keeps one updater for
 * the whole epoch, and leaves every layer's configured rate at the last step's rate, which is what a
 * checkpoint saves.
 */
class LayerRatesTest {
    // Nesterov momentum and weight decay: both read the learning rate every step.
    private static final ModelRecipe RESNET = new ModelRecipe("resnet20", 10, 1, 12, 12, Normalization.BATCH, 5L,
            Optimizer.NESTEROV, 0.1, 5e-4);
    private static final int B = 8;
    private static final int STEPS = 4;

    @Test
    void theScheduleChangesTheRateInPlaceAndTrainsWhatDl4jsRebuildTrains() throws Exception {
        List<DataSet> batches = SyntheticBatches.global(3L, STEPS, B, 1, 12, 10);
        // Cosine decay over the epoch: a different rate at every step.
        LearningRateSchedule schedule = new LearningRateSchedule(RESNET.learningRate(),
                LearningRateSchedule.Scaling.NONE, 1, 0, STEPS, LearningRateSchedule.Decay.COSINE, 1);

        ComputationGraph rebuilt = BatchNormSwap.toSync(RESNET.build(), false);
        ReplicaTrainer.useCacheMode(rebuilt, CacheMode.DEVICE);
        for (int step = 0; step < STEPS; step++) {
            rebuilt.setLearningRate(schedule.rateAt(0, step));
            rebuilt.fit(batches.get(step));
        }

        ComputationGraph inPlace = BatchNormSwap.toSync(RESNET.build(), false);
        ReplicaTrainer trainer = new ReplicaTrainer(inPlace, null, GradientExchange.none(), schedule, 0, 60_000);
        ComputationGraphUpdater updater = inPlace.getUpdater(true);
        trainer.trainEpoch(0, ReplicaSlices.source(batches, 0, B), StepObserver.NONE);

        assertSame(updater, inPlace.getUpdater(), "one updater for the whole epoch");
        assertArrayEquals(rebuilt.params().toFloatVector(), inPlace.params().toFloatVector(),
                "the parameters DL4J's setLearningRate trains, to the bit");
        assertArrayEquals(rebuilt.getUpdater().getStateViewArray().toFloatVector(),
                updater.getStateViewArray().toFloatVector(), "the same momentum");
        double last = schedule.rateAt(0, STEPS - 1);
        assertTrue(last < RESNET.learningRate(), "the schedule decayed the rate");
        int withRate = 0;
        for (Layer layer : inPlace.getLayers()) {
            if (layer.conf().getLayer() instanceof BaseLayer conf && conf.getIUpdater().hasLearningRate()) {
                assertEquals(last, conf.getIUpdater().getLearningRate(0, 0), 0, conf.getLayerName() + "'s configured rate");
                if (conf.getBiasUpdater() != null) {
                    assertEquals(last, conf.getBiasUpdater().getLearningRate(0, 0), 0, conf.getLayerName() + "'s bias rate");
                }
                withRate++;
            }
        }
        assertTrue(withRate > 20, "every convolution, BatchNorm and dense layer has a rate: " + withRate);
    }
}
