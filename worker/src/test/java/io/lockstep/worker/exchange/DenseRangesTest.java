package io.lockstep.worker.exchange;

import io.lockstep.models.InputShape;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.learning.config.Sgd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DenseRangesTest {

    @Test
    void coversExactlyTheBatchNormRunningStatistics() {
        ComputationGraph graph = ReplicaLoop.convWithBatchNorm(new Sgd(0.1));
        graph.getParam("bn_mean").assign(3);
        graph.getParam("bn_log10stdev").assign(-2);
        DenseRanges ranges = DenseRanges.batchNormStatistics(graph);
        assertEquals(8, ranges.total(), "mean and log10stdev of 4 channels");
        float[] params = graph.params().toFloatVector();
        int threes = 0;
        int minusTwos = 0;
        for (int r = 0; r < ranges.rangeCount(); r++) {
            for (int i = ranges.start(r); i < ranges.start(r) + ranges.length(r); i++) {
                threes += params[i] == 3f ? 1 : 0;
                minusTwos += params[i] == -2f ? 1 : 0;
            }
        }
        assertEquals(4, threes);
        assertEquals(4, minusTwos);
    }

    @Test
    void countsEveryBatchNormLayerOfResnet20AndNothingInLenet5() {
        ComputationGraph resnet = ModelRegistry.build("resnet20", ModelOptions.of(10, new InputShape(1, 28, 28)));
        long channels = 0;
        for (GraphVertex vertex : resnet.getVertices()) {
            if (vertex.hasLayer() && vertex.getLayer().conf().getLayer() instanceof BatchNormalization bn) {
                channels += bn.getNOut();
            }
        }
        assertTrue(channels > 0);
        assertEquals(2 * channels, DenseRanges.batchNormStatistics(resnet).total());

        ComputationGraph lenet = ModelRegistry.build("lenet5", ModelOptions.of(10, new InputShape(1, 28, 28)));
        assertEquals(0, DenseRanges.batchNormStatistics(lenet).total());
        assertArrayEquals(new int[0], new int[DenseRanges.batchNormStatistics(lenet).rangeCount()]);
    }
}
