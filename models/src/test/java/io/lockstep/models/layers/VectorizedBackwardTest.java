package io.lockstep.models.layers;

import io.lockstep.models.InputShape;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.models.RandomBatches;
import io.lockstep.models.TrainingBatches;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.dropout.IDropout;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.activations.impl.ActivationReLU;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The zoo's ReLU layers ({@link VectorizedReLU}, {@link ReluActivation}) and dense layers ({@link ReluDense}) train exactly as
 * DL4J's own: the same graph with DL4J's classes put back gives the same loss at every step and the
 * same parameters, bit for bit (signed zeros included), after several optimizer steps.
 */
class VectorizedBackwardTest {
    private static final int BATCH = 32;
    private static final int CLASSES = 10;

    @ParameterizedTest
    @ValueSource(strings = {"lenet5", "resnet20", "dropout"})
    void trainsBitIdenticallyToDl4jsLayers(String model) {
        // lenet5 at its real size: a smaller map once hid a difference in the last bits of the products.
        InputShape shape = InputShape.parse("lenet5".equals(model) ? "1x28x28" : "1x12x12");
        ComputationGraph ours = "dropout".equals(model) ? denseWithDropout(shape)
                : ModelRegistry.build(model, ModelOptions.of(CLASSES, shape));
        ComputationGraph stock = withDl4jLayers(ours);

        long vectorized = Arrays.stream(ours.getLayers())
                .filter(l -> isVectorizedRelu(l.conf().getLayer()))
                .count();
        long stockVectorized = Arrays.stream(stock.getLayers())
                .filter(l -> isVectorizedRelu(l.conf().getLayer()))
                .count();
        assertTrue(vectorized > 0, model + " has no vectorized ReLU");
        assertEquals(0, stockVectorized, "the stock graph still has Lockstep's ReLU");
        if ("resnet20".equals(model)) {
            assertTrue(Arrays.stream(ours.getLayers()).anyMatch(l -> l instanceof ReluActivationLayer), "resnet20 has no ReluActivationLayer");
            assertTrue(Arrays.stream(stock.getLayers()).noneMatch(l -> l instanceof ReluActivationLayer));
        } else { // resnet20's only dense layer is its output layer
            assertTrue(Arrays.stream(ours.getLayers()).anyMatch(l -> l instanceof ReluDenseLayer), model + " has no ReluDenseLayer");
            assertTrue(Arrays.stream(stock.getLayers()).noneMatch(l -> l instanceof ReluDenseLayer));
        }

        for (int step = 0; step < 4; step++) {
            DataSet batch = batch(shape, 11 + step);
            TrainingBatches.fit(stock, batch);
            TrainingBatches.fit(ours, batch);
            assertEquals(stock.score(), ours.score(), 0.0, model + " loss of step " + step);
        }
        assertArrayEquals(FloatBits.of(stock.params()), FloatBits.of(ours.params()), model + " parameters, bit for bit");
        // Inference after training reads the same parameters through the same forward pass.
        INDArray x = batch(shape, 99).getFeatures();
        assertEquals(stock.outputSingle(false, x), ours.outputSingle(false, x));
    }


    private static boolean isVectorizedRelu(org.deeplearning4j.nn.conf.layers.Layer layer) {
        return layer instanceof BaseLayer b && b.getActivationFn() instanceof VectorizedReLU
                || layer instanceof ActivationLayer a && a.getActivationFn() instanceof VectorizedReLU;
    }

    /** {@code ours} with DL4J's ReLU and dense layer classes in place of Lockstep's, and its parameters. */
    private static ComputationGraph withDl4jLayers(ComputationGraph ours) {
        ComputationGraphConfiguration stockConf = ComputationGraphConfiguration.fromJson(ours.getConfiguration().toJson()
                .replace(VectorizedReLU.class.getName(), ActivationReLU.class.getName())
                .replace(ReluDense.class.getName(), DenseLayer.class.getName())
                .replace(ReluActivation.class.getName(), ActivationLayer.class.getName()));
        ComputationGraph stock = new ComputationGraph(stockConf);
        stock.init(ours.params().dup(), true);
        return stock;
    }

    /** Two ReLU dense layers, the second with dropout (DL4J applies it to the first one's output in place). */
    private static ComputationGraph denseWithDropout(InputShape shape) {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(5)
                .updater(new Nesterovs(0.05, 0.9))
                .weightInit(WeightInit.RELU)
                .dataType(DataType.FLOAT)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(shape.height(), shape.width(), shape.channels()))
                .addLayer("fc1", ReluDense.of(new DenseLayer.Builder().nOut(32).activation(new VectorizedReLU())), "in")
                .addLayer("fc2", ReluDense.of(new DenseLayer.Builder().nOut(16).activation(new VectorizedReLU())
                        .dropOut(new StripedDropout())), "fc1")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build(), "fc2")
                .setOutputs("out")
                .build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        return graph;
    }

    /**
     * Inverted dropout with a mask that depends only on the element and the iteration (one element in
     * three dropped, the rest scaled by 1.5), so that two graphs drop the same elements: DL4J's own
     * dropout draws from a random state the test cannot reset.
     */
    public static final class StripedDropout implements IDropout {
        private transient INDArray mask;

        @Override
        public INDArray applyDropout(INDArray in, INDArray result, int iteration, int epoch, LayerWorkspaceMgr mgr) {
            float[] m = new float[(int) in.length()];
            for (int i = 0; i < m.length; i++) {
                m[i] = (i + iteration) % 3 == 0 ? 0f : 1.5f;
            }
            try (MemoryWorkspace detached = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                mask = Nd4j.create(m, in.shape(), 'c');
            }
            return result.assign(in.mul(mask));
        }

        @Override
        public INDArray backprop(INDArray gradAtOutput, INDArray gradAtInput, int iteration, int epoch) {
            return gradAtInput.assign(gradAtOutput.mul(mask));
        }

        @Override
        public void clear() {
            mask = null;
        }

        @Override
        public IDropout clone() {
            return new StripedDropout();
        }
    }

    private static DataSet batch(InputShape shape, long seed) {
        return RandomBatches.of(shape, BATCH, CLASSES, seed);
    }
}
