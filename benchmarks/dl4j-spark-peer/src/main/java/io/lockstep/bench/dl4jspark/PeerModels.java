package io.lockstep.bench.dl4jspark;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.graph.ScaleVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Minimal copies of Lockstep's {@code lenet5} and {@code resnet20} (models/src/main/java/io/lockstep/models:
 * LeNet5, CifarResNet, NetworkBuilder, ConvBlocks) so that the peer trains the same configuration without
 * depending on Lockstep. Same vertex names, layer shapes, Truncate convolution mode, He init for
 * convolutions and hidden dense layers, Xavier for the softmax output, BatchNorm decay 0.9 / eps 1e-5 with
 * a separate ReLU, option-A shortcuts from built-in vertices, and per-layer decoupled weight decay
 * ({@code weightDecay(coef, true)} on weights only; never global, which DL4J M2.1 would apply twice).
 * The trainable counts are checked at start-up against Lockstep's (1,256,080 and 269,434 at 1x28x28).
 */
final class PeerModels {
    static final String INPUT = "input";
    static final String OUTPUT = "output";

    private PeerModels() {
    }

    static long expectedTrainable(String model, int channels, int height, int width) {
        if (channels == 1 && height == 28 && width == 28) {
            return switch (model) {
                case "lenet5" -> 1_256_080L;
                case "resnet20" -> 269_434L;
                default -> -1;
            };
        }
        return -1;
    }

    static ComputationGraphConfiguration build(String model, int channels, int height, int width, int classes,
                                               long seed, IUpdater updater, double weightDecay) {
        Builder b = new Builder(channels, height, width, seed, updater, weightDecay);
        String last = switch (model) {
            case "lenet5" -> b.lenet5();
            case "resnet20" -> b.cifarResNet(3);
            default -> throw new IllegalArgumentException("--model: the DL4J peer mirrors lenet5 and resnet20, got '" + model + "'");
        };
        OutputLayer.Builder output = new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                .nOut(classes).activation(Activation.SOFTMAX).weightInit(WeightInit.XAVIER);
        b.decay(output);
        b.graph.addLayer(OUTPUT, output.build(), last).setOutputs(OUTPUT);
        return b.graph.build();
    }

    /** Trainable parameters counted as torchvision does: BatchNorm running mean/var excluded. */
    static long trainable(org.deeplearning4j.nn.graph.ComputationGraph graph) {
        long total = 0;
        for (var entry : graph.paramTable().entrySet()) {
            String key = entry.getKey();
            String param = key.substring(key.lastIndexOf('_') + 1);
            boolean runningStatistic = (param.equals("mean") || param.equals("var") || param.equals("log10stdev"))
                    && graph.getLayer(key.substring(0, key.lastIndexOf('_'))).conf().getLayer() instanceof BatchNormalization;
            if (!runningStatistic) {
                total += entry.getValue().length();
            }
        }
        return total;
    }

    private static final class Builder {
        final ComputationGraphConfiguration.GraphBuilder graph;
        final double weightDecay;
        int channels;

        Builder(int channels, int height, int width, long seed, IUpdater updater, double weightDecay) {
            this.weightDecay = weightDecay;
            this.channels = channels;
            this.graph = new NeuralNetConfiguration.Builder()
                    .seed(seed)
                    .updater(updater)
                    .weightInit(WeightInit.RELU)
                    .activation(Activation.IDENTITY)
                    .convolutionMode(ConvolutionMode.Truncate)
                    .dataType(DataType.FLOAT)
                    .graphBuilder()
                    .addInputs(INPUT)
                    .setInputTypes(InputType.convolutional(height, width, channels));
        }

        void decay(BaseLayer.Builder<?> layer) {
            if (weightDecay > 0) {
                layer.weightDecay(weightDecay, true);
            }
        }

        String conv(String name, String in, int filters, int kernel, int stride, int padding, boolean bias, Activation activation) {
            ConvolutionLayer.Builder layer = new ConvolutionLayer.Builder(kernel, kernel).stride(stride, stride)
                    .padding(padding, padding).nOut(filters).hasBias(bias).activation(activation);
            decay(layer);
            graph.addLayer(name, layer.build(), in);
            channels = filters;
            return name;
        }

        String batchNorm(String name, String in) {
            graph.addLayer(name, new BatchNormalization.Builder().nOut(channels).activation(Activation.IDENTITY).build(), in);
            return name;
        }

        String relu(String name, String in) {
            graph.addLayer(name, new ActivationLayer.Builder().activation(Activation.RELU).build(), in);
            return name;
        }

        String maxPool(String name, String in, int kernel, int stride) {
            graph.addLayer(name, new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(kernel, kernel)
                    .stride(stride, stride).padding(0, 0).build(), in);
            return name;
        }

        String lenet5() {
            String x = conv("conv1", INPUT, 20, 5, 1, 2, true, Activation.RELU);
            x = maxPool("pool1", x, 2, 2);
            x = conv("conv2", x, 50, 5, 1, 2, true, Activation.RELU);
            x = maxPool("pool2", x, 2, 2);
            DenseLayer.Builder fc1 = new DenseLayer.Builder().nOut(500).activation(Activation.RELU);
            decay(fc1);
            graph.addLayer("fc1", fc1.build(), x);
            return "fc1";
        }

        String cifarResNet(int blocksPerStage) {
            String x = relu("relu", batchNorm("bn1", conv("conv1", INPUT, 16, 3, 1, 1, false, Activation.IDENTITY)));
            int[] filters = {16, 32, 64};
            for (int stage = 0; stage < filters.length; stage++) {
                for (int block = 0; block < blocksPerStage; block++) {
                    int stride = stage > 0 && block == 0 ? 2 : 1;
                    x = basicBlock("layer" + (stage + 1) + "_" + block, x, filters[stage], stride);
                }
            }
            graph.addLayer("avgpool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), x);
            return "avgpool";
        }

        private String basicBlock(String prefix, String in, int planes, int stride) {
            int inChannels = channels;
            String x = conv(prefix + "_conv1", in, planes, 3, stride, 1, false, Activation.IDENTITY);
            x = relu(prefix + "_relu1", batchNorm(prefix + "_bn1", x));
            x = batchNorm(prefix + "_bn2", conv(prefix + "_conv2", x, planes, 3, 1, 1, false, Activation.IDENTITY));
            String shortcut = in;
            if (stride != 1 || inChannels != planes) {
                // option A: x[:, :, ::2, ::2] (1x1 max-pool, stride 2) and as many zero channels
                String subsampled = maxPool(prefix + "_shortcut_subsample", in, 1, 2);
                graph.addVertex(prefix + "_shortcut_zeros", new ScaleVertex(0.0), subsampled);
                graph.addVertex(prefix + "_shortcut_pad", new MergeVertex(), subsampled, prefix + "_shortcut_zeros");
                shortcut = prefix + "_shortcut_pad";
            }
            graph.addVertex(prefix + "_add", new ElementWiseVertex(ElementWiseVertex.Op.Add), x, shortcut);
            return relu(prefix + "_relu", prefix + "_add");
        }
    }
}
