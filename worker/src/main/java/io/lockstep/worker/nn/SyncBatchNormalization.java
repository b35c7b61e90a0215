package io.lockstep.worker.nn;

import io.lockstep.models.layers.LayerConfigurations;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.LayerValidation;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Collection;
import java.util.Objects;

/**
 * Configuration of a BatchNorm layer whose training statistics are those of the global batch of all
 * replicas (PyTorch {@code SyncBatchNorm} semantics). Everything else — parameters, their keys and
 * layout, updaters, {@code decay}, {@code eps}, {@code lockGammaBeta}, {@code useLogStd}, the JSON
 * form apart from the class name — is that of DL4J's {@link BatchNormalization}, which this extends,
 * so a graph can be swapped between the two forms keeping parameters and updater state
 * ({@link BatchNormSwap}).
 *
 * <p>The configuration holds no runtime object: the {@link io.lockstep.worker.comm.Collective} is
 * attached to the instantiated layers after {@code init()} with {@link SyncBatchNorms#attach}. A
 * saved model therefore loads anywhere Lockstep's classes are on the class path, and without a
 * collective the layer computes exactly what DL4J's BatchNorm computes.
 *
 * <p>One deliberate difference, chosen by {@link #isUnbiasedRunningVariance()}: PyTorch updates the
 * running variance with the <em>unbiased</em> variance of the batch, {@code var·n/(n−1)}; DL4J's
 * BatchNorm uses the biased one. The default ({@code true}) follows PyTorch; {@code false} keeps
 * DL4J's running statistics bit-for-bit compatible with a plain BatchNorm trained on the global batch.
 * Normalization in training always uses the biased variance, in both modes and in both libraries.
 *
 * <p>Build one from a plain configuration: {@code SyncBatchNormalization.from(new BatchNormalization.Builder()...build())}.
 * Instances are mutable bean-style configs like every DL4J layer config; do not share one between
 * graphs that are being configured concurrently.
 */
public class SyncBatchNormalization extends BatchNormalization {

    private boolean unbiasedRunningVariance = true;

    /** Defaults of DL4J's {@code BatchNormalization.Builder} (decay 0.9, eps 1e-5, log10-std running variance). */
    public SyncBatchNormalization() {
        super();
    }

    /**
     * The synchronized form of {@code plain}: every field of the plain configuration (including layer
     * name, nIn/nOut, updaters, constraints, data format) is copied from a clone of it.
     */
    public static SyncBatchNormalization from(BatchNormalization plain) {
        Objects.requireNonNull(plain, "plain");
        SyncBatchNormalization sync = new SyncBatchNormalization();
        LayerConfigurations.copyFields(BatchNormalization.class, plain.clone(), sync);
        if (plain instanceof SyncBatchNormalization) {
            sync.unbiasedRunningVariance = ((SyncBatchNormalization) plain).unbiasedRunningVariance;
        }
        return sync;
    }

    /** The plain DL4J form of this configuration (the running-variance mode is not representable and is dropped). */
    public BatchNormalization toPlain() {
        BatchNormalization plain = new BatchNormalization();
        LayerConfigurations.copyFields(BatchNormalization.class, this.clone(), plain);
        return plain;
    }

    /** {@link #from(BatchNormalization)} with the running-variance mode chosen explicitly. */
    public static SyncBatchNormalization from(BatchNormalization plain, boolean unbiasedRunningVariance) {
        SyncBatchNormalization sync = from(plain);
        sync.unbiasedRunningVariance = unbiasedRunningVariance;
        return sync;
    }

    /**
     * {@code true} (default, PyTorch): running variance is updated with the unbiased global batch
     * variance {@code var·n/(n−1)}, and a training step whose global batch holds a single value per
     * channel is an error. {@code false} (DL4J): updated with the biased variance, as DL4J's BatchNorm does.
     */
    public boolean isUnbiasedRunningVariance() {
        return unbiasedRunningVariance;
    }

    public void setUnbiasedRunningVariance(boolean unbiasedRunningVariance) {
        this.unbiasedRunningVariance = unbiasedRunningVariance;
    }

    @Override
    public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> trainingListeners,
                             int layerIndex, INDArray layerParamsView, boolean initializeParams,
                             DataType networkDataType) {
        LayerValidation.assertNOutSet("SyncBatchNormalization", getLayerName(), layerIndex, getNOut());
        return LayerConfigurations.wire(new SyncBatchNormalizationLayer(conf, networkDataType),
                initializer(), conf, trainingListeners, layerIndex, layerParamsView, initializeParams);
    }

    @Override
    public SyncBatchNormalization clone() {
        // Object.clone (via the parent's chain) keeps the runtime class and copies our field.
        return (SyncBatchNormalization) super.clone();
    }

    // Lombok's equals in the parent uses canEqual: without these overrides a plain BatchNorm config
    // would compare equal to a synchronized one, and DL4J's configuration equality would hide a swap.
    @Override
    public boolean equals(Object o) {
        if (o == this) {
            return true;
        }
        if (!(o instanceof SyncBatchNormalization)) {
            return false;
        }
        SyncBatchNormalization other = (SyncBatchNormalization) o;
        return other.canEqual(this) && super.equals(o) && unbiasedRunningVariance == other.unbiasedRunningVariance;
    }

    @Override
    protected boolean canEqual(Object other) {
        return other instanceof SyncBatchNormalization;
    }

    @Override
    public int hashCode() {
        return 31 * (31 * super.hashCode() + Boolean.hashCode(unbiasedRunningVariance)) + 0x5b;
    }

    @Override
    public String toString() {
        return "Sync" + super.toString() + "(unbiasedRunningVariance=" + unbiasedRunningVariance + ")";
    }
}
