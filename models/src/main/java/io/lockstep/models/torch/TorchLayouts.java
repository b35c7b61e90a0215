package io.lockstep.models.torch;

import io.lockstep.models.layers.ReluDense;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.params.DefaultParamInitializer;

import java.util.List;
import java.util.function.DoubleUnaryOperator;

/**
 * How the parameters of one DL4J layer are laid out in a PyTorch {@code state_dict}: for each DL4J
 * parameter key, the name of the PyTorch tensor relative to the layer's module (the module name comes
 * from {@link io.lockstep.models.Architecture#torchModule}), and how its layout differs.
 *
 * <p><b>Adding a layer type</b>: either add a branch to {@link #of} (for a DL4J layer class), or let the
 * layer configuration implement {@link TorchMapped} (for a layer of Lockstep's own). Nothing else in
 * the importer needs to change. Layers without parameters need no entry.
 *
 * <p>Stateless and thread-safe.
 */
public final class TorchLayouts {

    /** How a PyTorch tensor's layout relates to the DL4J parameter's. */
    public enum Layout {
        /** Same shape and element order (convolution weights: both OIHW). */
        SAME,
        /** A PyTorch vector {@code [n]} into a DL4J vector {@code [n]} or row {@code [1, n]}. */
        VECTOR,
        /** A PyTorch matrix {@code [out, in]} into a DL4J matrix {@code [in, out]} (nn.Linear weights). */
        TRANSPOSE
    }

    /**
     * One parameter: DL4J key, PyTorch name suffix, layout, and a per-element conversion of the values
     * ({@code null} for none).
     */
    public record TorchTensor(String key, String suffix, Layout layout, DoubleUnaryOperator values) {
        public static TorchTensor of(String key, String suffix, Layout layout) {
            return new TorchTensor(key, suffix, layout, null);
        }
    }

    private TorchLayouts() {
    }

    /**
     * The PyTorch tensors of {@code layer}, one per DL4J parameter key.
     *
     * @throws IllegalStateException for a layer type with parameters whose layout is unknown
     */
    public static List<TorchTensor> of(Layer layer) {
        if (layer instanceof TorchMapped mapped) {
            return mapped.torchTensors();
        }
        if (layer.getClass() == ConvolutionLayer.class) {
            ConvolutionLayer conv = (ConvolutionLayer) layer;
            return conv.hasBias()
                    ? List.of(TorchTensor.of(DefaultParamInitializer.WEIGHT_KEY, "weight", Layout.SAME),
                    TorchTensor.of(DefaultParamInitializer.BIAS_KEY, "bias", Layout.VECTOR))
                    : List.of(TorchTensor.of(DefaultParamInitializer.WEIGHT_KEY, "weight", Layout.SAME));
        }
        if (layer.getClass() == DenseLayer.class || layer.getClass() == ReluDense.class || layer.getClass() == OutputLayer.class) {
            return List.of(TorchTensor.of(DefaultParamInitializer.WEIGHT_KEY, "weight", Layout.TRANSPOSE),
                    TorchTensor.of(DefaultParamInitializer.BIAS_KEY, "bias", Layout.VECTOR));
        }
        if (layer instanceof BatchNormalization bn) {
            // PyTorch keeps the running variance; DL4J keeps either it or log10 of its square root. eps is
            // not part of the stored value: inference divides by sqrt((10^log10stdev)^2 + eps), as PyTorch
            // divides by sqrt(running_var + eps).
            TorchTensor variance = bn.isUseLogStd()
                    ? new TorchTensor(BatchNormalizationParamInitializer.GLOBAL_LOG_STD, "running_var", Layout.VECTOR,
                    v -> 0.5 * Math.log10(v))
                    : TorchTensor.of(BatchNormalizationParamInitializer.GLOBAL_VAR, "running_var", Layout.VECTOR);
            return List.of(TorchTensor.of(BatchNormalizationParamInitializer.GAMMA, "weight", Layout.VECTOR),
                    TorchTensor.of(BatchNormalizationParamInitializer.BETA, "bias", Layout.VECTOR),
                    TorchTensor.of(BatchNormalizationParamInitializer.GLOBAL_MEAN, "running_mean", Layout.VECTOR),
                    variance);
        }
        if (layer.initializer().numParams(layer) == 0) {
            return List.of();
        }
        throw new IllegalStateException("no PyTorch layout is known for layer type " + layer.getClass().getName()
                + "; describe it in TorchLayouts.of or implement TorchMapped");
    }
}
