package io.lockstep.worker.train;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class FrozenExchangeTest {

    /** Records what the strategy was given; changes nothing. */
    private static final class Recording implements GradientExchange {
        private final boolean needsModelLayout;
        private INDArray seen;

        Recording(boolean needsModelLayout) {
            this.needsModelLayout = needsModelLayout;
        }

        @Override
        public boolean needsModelLayout() {
            return needsModelLayout;
        }

        @Override
        public void exchange(INDArray flatGradient, int epoch, long step) {
            seen = flatGradient.dup();
        }

        @Override
        public long lastBytesSent() {
            return 0;
        }

        @Override
        public long lastExchangeNanos() {
            return 0;
        }
    }

    private static ComputationGraph graph() {
        ComputationGraph graph = new ComputationGraph(new NeuralNetConfiguration.Builder().seed(7).dataType(DataType.FLOAT)
                .updater(new Sgd(0.1)).graphBuilder().addInputs("in").setInputTypes(InputType.feedForward(4))
                .addLayer("hidden", new DenseLayer.Builder().nOut(3).activation(Activation.TANH).build(), "in")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2)
                        .activation(Activation.SOFTMAX).build(), "hidden")
                .setOutputs("out").build());
        graph.init();
        return graph;
    }

    @Test
    void packsTheTrainableEntriesUnlessTheStrategyNeedsTheModelLayout() {
        ComputationGraph graph = graph();
        FrozenLayers frozen = FrozenLayers.of(graph, List.of("hidden"));
        long hidden = graph.getLayer("hidden").numParams();
        INDArray gradient = org.nd4j.linalg.factory.Nd4j.linspace(1, graph.numParams(), graph.numParams(), DataType.FLOAT);

        Recording packed = new Recording(false);
        new FrozenExchange(packed, frozen).exchange(gradient.dup(), 0, 0);
        assertEquals(graph.numParams() - hidden, packed.seen.length(), "only the trainable entries");
        assertEquals(gradient.getFloat(hidden), packed.seen.getFloat(0), "the first trainable entry comes first");

        Recording whole = new Recording(true);
        new FrozenExchange(whole, frozen).exchange(gradient.dup(), 0, 0);
        assertEquals(graph.numParams(), whole.seen.length(), "the model's whole gradient");
        assertEquals(0f, whole.seen.getFloat(0), "frozen entries are zero");
        assertEquals(gradient.getFloat(hidden), whole.seen.getFloat(hidden), "trainable entries where they lie");
    }
}
