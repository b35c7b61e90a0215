package io.lockstep.worker.nn;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.ReduceOp;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * A tiny conv net for graph-level tests: conv → BN → relu → max-pool → dense → BN (dense) → relu →
 * softmax, on 1×8×8 inputs with 3 classes. Two BatchNorms: one rank-4, one rank-2.
 */
final class SmallConvNet {
    static final int CLASSES = 3;
    static final int SIDE = 8;

    private SmallConvNet() {
    }

    static ComputationGraphConfiguration conf(DataType type, IUpdater updater) {
        return new NeuralNetConfiguration.Builder()
                .seed(42)
                .dataType(type)
                .updater(updater)
                .weightInit(WeightInit.XAVIER)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(SIDE, SIDE, 1))
                .addLayer("conv", new ConvolutionLayer.Builder(3, 3).nOut(4).activation(Activation.IDENTITY).build(), "in")
                .addLayer("bn1", new BatchNormalization.Builder().build(), "conv")
                .addLayer("relu1", new ActivationLayer.Builder().activation(Activation.RELU).build(), "bn1")
                .addLayer("pool", new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX).kernelSize(2, 2)
                        .stride(2, 2).build(), "relu1")
                .addLayer("dense", new DenseLayer.Builder().nOut(6).activation(Activation.IDENTITY).build(), "pool")
                .addLayer("bn2", new BatchNormalization.Builder().build(), "dense")
                .addLayer("relu2", new ActivationLayer.Builder().activation(Activation.RELU).build(), "bn2")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build(), "relu2")
                .setOutputs("out")
                .build();
    }

    /** {@code examples} random images and one-hot labels, generated in double then cast. */
    static DataSet data(int examples, long seed, DataType type) {
        Nd4j.getRandom().setSeed(seed);
        INDArray features = Nd4j.rand(DataType.DOUBLE, examples, 1, SIDE, SIDE).muli(2.0).subi(0.5);
        INDArray labels = Nd4j.zeros(DataType.DOUBLE, examples, CLASSES);
        for (int i = 0; i < examples; i++) {
            labels.putScalar(i, Nd4j.getRandom().nextInt(CLASSES), 1.0);
        }
        return new DataSet(features.castTo(type), labels.castTo(type));
    }

    /** Examples [from, to) of {@code data}. */
    static DataSet slice(DataSet data, int from, int to) {
        return new DataSet(
                data.getFeatures().get(NDArrayIndex.interval(from, to), NDArrayIndex.all(), NDArrayIndex.all(),
                        NDArrayIndex.all()).dup(),
                data.getLabels().get(NDArrayIndex.interval(from, to), NDArrayIndex.all()).dup());
    }

    /**
     * Test-side gradient exchange: averages the flattened gradient over the group after backprop and
     * before the updater, as the training loop's all-reduce exchange does (double precision here).
     */
    static final class AveragingListener extends BaseTrainingListener {
        private final Collective collective;

        AveragingListener(Collective collective) {
            this.collective = collective;
        }

        @Override
        public void onGradientCalculation(Model model) {
            INDArray gradient = model.gradient().gradient();
            double[] values = gradient.castTo(DataType.DOUBLE).dup('c').reshape(gradient.length()).toDoubleVector();
            collective.allReduce(values, ReduceOp.AVERAGE);
            gradient.assign(Nd4j.createFromArray(values).castTo(gradient.dataType()).reshape(gradient.shape()));
        }
    }
}
