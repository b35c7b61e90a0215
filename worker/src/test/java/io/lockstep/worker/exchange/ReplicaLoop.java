package io.lockstep.worker.exchange;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.train.GradientExchange;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.api.Updater;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.Random;

/**
 * Test support: tiny models built identically on every replica, fixed per-rank data, and a training
 * loop that calls the exchange hooks in the order {@code ReplicaTrainer} does (position the collective,
 * fit with the exchange inside DL4J's gradient listener, then {@code afterStep}).
 */
final class ReplicaLoop {
    static final int CLASSES = 3;

    /** Called on the replica's thread after the optimizer step and before {@code afterStep}, then after it. */
    interface StepHook {
        void beforeAfterStep(int step, ComputationGraph graph) throws Exception;

        void afterAfterStep(int step, ComputationGraph graph) throws Exception;
    }

    private ReplicaLoop() {
    }

    /** Conv 1→4 (3x3) + BatchNormalization + ReLU + global average pooling + softmax over 8x8 single-channel images. */
    static ComputationGraph convWithBatchNorm(IUpdater updater) {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(7).dataType(DataType.FLOAT).weightInit(WeightInit.XAVIER).updater(updater)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(8, 8, 1))
                .addLayer("conv", new ConvolutionLayer.Builder(3, 3).nOut(4).activation(Activation.IDENTITY).build(), "in")
                .addLayer("bn", new BatchNormalization.Builder().activation(Activation.RELU).build(), "conv")
                .addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "bn")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build(), "pool")
                .setOutputs("out")
                .build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        return graph;
    }

    /** Dense 12→16 ReLU → softmax 3. */
    static ComputationGraph dense(IUpdater updater) {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(7).dataType(DataType.FLOAT).weightInit(WeightInit.XAVIER).updater(updater)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.feedForward(12))
                .addLayer("hidden", new DenseLayer.Builder().nOut(16).activation(Activation.RELU).build(), "in")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build(), "hidden")
                .setOutputs("out")
                .build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        return graph;
    }

    /** A fixed batch for (rank, step): features from a seeded {@link Random}, shape {@code [batch, shape...]}. */
    static DataSet batch(int rank, int step, int batch, int classes, long... featureShape) {
        Random random = new Random(1_000_003L * rank + 7919L * step + 17);
        long[] shape = new long[featureShape.length + 1];
        shape[0] = batch;
        long perExample = 1;
        for (int i = 0; i < featureShape.length; i++) {
            shape[i + 1] = featureShape[i];
            perExample *= featureShape[i];
        }
        float[] features = new float[Math.toIntExact(batch * perExample)];
        for (int i = 0; i < features.length; i++) {
            features[i] = (float) random.nextGaussian();
        }
        float[] labels = new float[batch * classes];
        for (int i = 0; i < batch; i++) {
            labels[i * classes + random.nextInt(classes)] = 1f;
        }
        return new DataSet(Nd4j.create(features, shape), Nd4j.create(labels, new long[] {batch, classes}));
    }

    /**
     * Trains {@code steps} steps of epoch 0 on this replica with {@code exchange}, the data of
     * {@code batches.batch(rank, step)}.
     */
    static void train(ComputationGraph graph, Collective collective, GradientExchange exchange, int steps,
                      BatchSupplier batches, StepHook hook) throws Exception {
        Hook listener = new Hook(exchange);
        graph.setListeners(listener);
        exchange.attach(graph);
        for (int step = 0; step < steps; step++) {
            DataSet batch = batches.batch(collective.rank(), step);
            collective.position(0, step);
            listener.step = step;
            graph.fit(batch);
            hook.beforeAfterStep(step, graph);
            exchange.afterStep(graph, 0, step);
            hook.afterAfterStep(step, graph);
        }
    }

    @FunctionalInterface
    interface BatchSupplier {
        DataSet batch(int rank, int step);
    }

    /** Parameters followed by the updater state, as one copied vector. */
    static float[] paramsAndUpdaterState(ComputationGraph graph) {
        float[] params = graph.params().toFloatVector();
        Updater updater = graph.getUpdater();
        INDArray state = updater == null ? null : updater.getStateViewArray();
        if (state == null || state.length() == 0) {
            return params;
        }
        float[] stateValues = state.toFloatVector();
        float[] all = new float[params.length + stateValues.length];
        System.arraycopy(params, 0, all, 0, params.length);
        System.arraycopy(stateValues, 0, all, params.length, stateValues.length);
        return all;
    }

    private static final class Hook extends BaseTrainingListener {
        private final GradientExchange exchange;
        private int step;

        Hook(GradientExchange exchange) {
            this.exchange = exchange;
        }

        @Override
        public void onGradientCalculation(Model model) {
            exchange.exchange(model.gradient().gradient(), 0, step);
        }
    }
}
