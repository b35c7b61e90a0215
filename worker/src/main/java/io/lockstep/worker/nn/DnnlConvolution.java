package io.lockstep.worker.nn;

import io.lockstep.models.layers.HostFloats;
import io.lockstep.models.layers.LayerConfigurations;
import io.lockstep.models.layers.NhwcConvolution;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.LayerValidation;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The configuration of a 2-D convolution (NHWC or NCHW activations) that calls OneDNN directly on ND4J's CPU backend
 * (the layer is {@code DnnlConvolutionLayer}). Same parameters, keys, initialization and JSON as
 * DL4J's convolution (with this class's name), so a graph swaps between the two keeping its
 * parameters and updater state ({@link ConvolutionSwap}).
 *
 * <p>On any other backend, or where OneDNN's natives cannot be loaded, it instantiates
 * {@link io.lockstep.models.layers.NhwcConvolutionLayer} (DL4J's path), so a saved model that carries
 * this configuration loads and runs everywhere; OneDNN's classes are then never loaded.
 */
public class DnnlConvolution extends NhwcConvolution {
    private static final Logger LOG = LoggerFactory.getLogger(DnnlConvolution.class);

    /** For JSON. */
    public DnnlConvolution() {
    }

    /** A copy of {@code plain} (DL4J's or Lockstep's NHWC convolution configuration) that runs on OneDNN directly. */
    public static DnnlConvolution from(ConvolutionLayer plain) {
        Objects.requireNonNull(plain, "plain");
        DnnlConvolution dnnl = new DnnlConvolution();
        LayerConfigurations.copyFields(ConvolutionLayer.class, plain.clone(), dnnl);
        return dnnl;
    }

    /** This configuration on DL4J's path: Lockstep's NHWC convolution for NHWC, DL4J's own class for NCHW. */
    public ConvolutionLayer toDl4j() {
        ConvolutionLayer plain = getCnn2dDataFormat() == CNN2DFormat.NHWC ? new NhwcConvolution() : new ConvolutionLayer();
        LayerConfigurations.copyFields(ConvolutionLayer.class, this.clone(), plain);
        return plain;
    }

    /**
     * Whether {@code layer} can take this form: exactly DL4J's 2-D convolution or Lockstep's NHWC one (not
     * a subclass such as depthwise, separable, 1-D or transposed), NHWC or NCHW activations, explicit padding
     * ({@code Truncate} or {@code Strict}), no dropout or weight noise, float network.
     */
    public static boolean supports(org.deeplearning4j.nn.conf.layers.Layer layer, DataType dataType) {
        if (layer == null || (layer.getClass() != ConvolutionLayer.class && layer.getClass() != NhwcConvolution.class)) {
            return false;
        }
        ConvolutionLayer conv = (ConvolutionLayer) layer;
        return dataType == DataType.FLOAT
                && (conv.getConvolutionMode() == ConvolutionMode.Truncate || conv.getConvolutionMode() == ConvolutionMode.Strict)
                && conv.getKernelSize().length == 2 && conv.getIDropout() == null && conv.getWeightNoise() == null;
    }

    /**
     * Bytes of the NHWC buffers the direct path needs per training thread for {@code conf}'s NCHW
     * convolutions at {@code batch} examples: NCHW activations are converted to NHWC and back in buffers of
     * the calling thread, one for the input, one for its gradient and one for the output, each as large as
     * the largest of its role in the graph. NHWC convolutions need none; 0 when there is nothing to convert.
     *
     * @param input the type of the graph's input(s)
     */
    public static long nchwBufferBytes(ComputationGraphConfiguration conf, InputType input, long batch) {
        Map<String, InputType> outputs = conf.getLayerActivationTypes(input);
        List<String> networkInputs = conf.getNetworkInputs();
        long largestInput = 0;
        long largestOutput = 0;
        for (Map.Entry<String, GraphVertex> vertex : conf.getVertices().entrySet()) {
            if (!(vertex.getValue() instanceof LayerVertex layerVertex)) {
                continue;
            }
            org.deeplearning4j.nn.conf.layers.Layer layer = layerVertex.getLayerConf().getLayer();
            if (!supports(layer, conf.getDataType()) || ((ConvolutionLayer) layer).getCnn2dDataFormat() != CNN2DFormat.NCHW) {
                continue;
            }
            String from = conf.getVertexInputs().get(vertex.getKey()).get(0);
            InputType in = networkInputs.contains(from) ? input : outputs.get(from);
            largestInput = Math.max(largestInput, in.arrayElementsPerExample());
            largestOutput = Math.max(largestOutput, outputs.get(vertex.getKey()).arrayElementsPerExample());
        }
        return batch * Float.BYTES * (2 * largestInput + largestOutput);
    }

    /** Whether this JVM runs ND4J's CPU backend and OneDNN's natives load; decided once. */
    public static boolean available() {
        return Backend.AVAILABLE;
    }

    @Override
    public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners, int layerIndex,
                             INDArray layerParamsView, boolean initializeParams, DataType networkDataType) {
        if (!available()) {
            return super.instantiate(conf, listeners, layerIndex, layerParamsView, initializeParams, networkDataType);
        }
        LayerValidation.assertNInNOutSet("ConvolutionLayer", getLayerName(), layerIndex, getNIn(), getNOut());
        return LayerConfigurations.wire(DnnlConvolutionLayer.create(conf, networkDataType),
                initializer(), conf, listeners, layerIndex, layerParamsView, initializeParams);
    }

    @Override
    protected boolean canEqual(Object other) {
        return other instanceof DnnlConvolution;
    }

    /** Decided on first use, so that the CUDA backend never touches OneDNN's classes. */
    private static final class Backend {
        static final boolean AVAILABLE = probe();

        private static boolean probe() {
            if (!HostFloats.cpuBackend()) {
                return false;
            }
            try {
                DnnlConvolutionLayer.load();
                return true;
            } catch (Throwable t) {
                LOG.warn("OneDNN's natives (org.bytedeco:dnnl) did not load; NHWC convolutions run on DL4J's path: {}", t.toString());
                return false;
            }
        }
    }
}
