package io.lockstep.worker.nn;

import io.lockstep.models.layers.HostFloats;
import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.ReduceOp;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.LayerHelper;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastAddOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastSubOp;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * The layer of {@link SyncBatchNormalization}: BatchNorm whose training-time statistics are those of
 * the global batch of all replicas, as PyTorch's {@code SyncBatchNorm} computes them.
 *
 * <p><b>Training forward.</b> Per channel, the local Σ(x−s) and Σ(x−s)² — shifted by the running
 * mean s, identical on every replica, so Σ(x−s)²/n − (Σ(x−s)/n)² does not cancel — and the local count
 * go into one double buffer of 2C+1 values, all-reduced (SUM) in one message. Locally, Σx is summed
 * in double (a float sum of 50k activations around 1000 is off by ~1e-2) and Σ(x−x̄)² comes from
 * libnd4j's variance op (Welford-accurate even in float); Σ(x−s)² = Σ(x−x̄)² + (Σ(x−s))²/n_local. The
 * global mean and biased variance (clamped at 0) normalize: x̂ = (x−μ)/√(σ²+eps), y = γx̂+β, element
 * work in the network data type. x̂ is kept for the backward in the INPUT workspace.
 *
 * <p><b>Backward.</b> With dy the gradient of the loss summed over the minibatch (DL4J's convention),
 * the local Σdy and Σdy·x̂ are all-reduced in one message of 2C doubles, and
 * dx = γ/√(σ²+eps) · (dy − Σdy/n − x̂·Σ(dy·x̂)/n) with n the global count. dγ = Σdy·x̂ and dβ = Σdy are
 * the <em>local</em> sums: the sum over replicas of the local values is the global batch's gradient,
 * so after DL4J's updater divides by the local batch size B, averaging over N replicas of equal B
 * gives Σ/(N·B), the global batch's mean gradient (see {@link SyncBatchNorms} for unequal batches).
 *
 * <p><b>Running statistics</b> are updated the way DL4J's BatchNorm does it, so the optimizer path is
 * unchanged: backprop writes a pseudo-gradient into the NoOp-updated slots — for the mean
 * (1−decay)(mean_t − μ), for {@code var} (1−decay)(var_t − v), for {@code log10stdev}
 * log10(std_t) − log10(std_{t+1}) with var_{t+1} = decay·var_t + (1−decay)·v — where μ and v are the
 * global batch's (v unbiased or biased per {@link SyncBatchNormalization#isUnbiasedRunningVariance()}).
 * These slots depend only on global quantities and the identical running statistics, so they are
 * identical on every replica and the gradient exchange must <em>average</em> them (a no-op), never sum.
 *
 * <p><b>Inference</b> ({@code train=false}) is DL4J's own code path on the running statistics and never
 * communicates. Without a collective, or with one of size 1, the layer is a plain BatchNorm.
 *
 * <p><b>Empty local batch.</b> An input with 0 examples still takes part in both messages, contributing
 * zeros, and returns an empty output/epsilon; {@link #forwardWithoutData()} and
 * {@link #backwardWithoutData()} do the same without any array, for a replica whose graph cannot run
 * (DL4J's graphs reject a 0-example minibatch before reaching this layer).
 *
 * <p>Threading: owned by the thread that trains its graph, like every DL4J layer; the collective must
 * be owned by that same thread. Every replica must run its training forwards and backwards of sync
 * layers in the same order (DL4J does: topological order forward, reverse backward), otherwise the
 * collective pairs messages of different layers and fails on the length mismatch or deadlocks until
 * its deadline. Only NCHW/NHWC rank-4 and rank-2 inputs are supported.
 */
public class SyncBatchNormalizationLayer extends BatchNormalization {

    private final int channels;
    /** Forward message: Σ(x−s) [0,C), Σ(x−s)² [C,2C), count [2C]. Reused every step. */
    private final double[] statistics;
    /** Backward message: Σdy [0,C), Σdy·x̂ [C,2C). Reused every step. */
    private final double[] gradientSums;
    private final double[] runningMean;
    private final double[] globalMean;
    private final double[] globalVariance;
    private final double[] invStd;
    private final double[] scratch;
    private final double[] dxOffset;
    private final double[] dxScale;
    private final double[] localFirst;
    private final double[] localSecond;
    private final float[] center;
    private final float[] scale;
    private final float[] offset;
    private final float[] dyScale;
    private final BatchNormKernels kernels;

    private Collective collective;
    private double globalCount;
    private long localCount;
    private boolean backwardPending;
    /** x̂ of the last training forward (INPUT workspace or detached); null for an empty local batch. */
    private INDArray normalized;
    /**
     * The float input of the last training forward when it ran on {@link BatchNormKernels} (the backward
     * recomputes x̂ from it instead of keeping a normalized copy); null otherwise.
     */
    private INDArray kernelInput;
    private boolean lastForwardOnKernels;
    private long communicationNanos;
    private long communications;
    private boolean frozen;

    public SyncBatchNormalizationLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
        this.channels = Math.toIntExact(layerConf().getNOut());
        this.statistics = new double[2 * channels + 1];
        this.gradientSums = new double[2 * channels];
        this.runningMean = new double[channels];
        this.globalMean = new double[channels];
        this.globalVariance = new double[channels];
        this.invStd = new double[channels];
        this.scratch = new double[channels];
        this.dxOffset = new double[channels];
        this.dxScale = new double[channels];
        this.localFirst = new double[channels];
        this.localSecond = new double[channels];
        this.center = new float[channels];
        this.scale = new float[channels];
        this.offset = new float[channels];
        this.dyScale = new float[channels];
        this.kernels = new BatchNormKernels(channels);
    }

    /**
     * Sets the group whose global batch this layer normalizes over; {@code null} (or a group of size
     * 1) makes it a plain BatchNorm. Call between steps, on the training thread.
     */
    public void attach(Collective collective) {
        this.collective = collective;
    }

    /** The attached group, or {@code null}. */
    public Collective collective() {
        return collective;
    }

    /**
     * Freezes (or thaws) the layer for training: a frozen layer normalizes with its running statistics
     * in training as in inference, never updates them, never communicates, and reports zero gradients
     * for all its parameters; its backward passes dL/dx = dL/dy·γ/√(var+eps) through to earlier layers.
     * Every replica must freeze the same layers (they then all skip the same collective operations).
     */
    public void setFrozen(boolean frozen) {
        this.frozen = frozen;
    }

    public boolean isFrozen() {
        return frozen;
    }

    /** Wall time spent inside the collective by this layer since creation or the last reset, nanoseconds. */
    public long communicationNanos() {
        return communicationNanos;
    }

    /** Number of all-reduce calls made by this layer since creation or the last reset. */
    public long communications() {
        return communications;
    }

    public void resetCommunicationStats() {
        communicationNanos = 0;
        communications = 0;
    }

    /** Whether the last training forward ran on {@link BatchNormKernels} (float on the CPU backend). */
    boolean lastForwardOnKernels() {
        return lastForwardOnKernels;
    }

    /** Number of channels C (the per-channel vectors' length). */
    public int channels() {
        return channels;
    }

    /** OneDNN/cuDNN helpers compute local statistics internally; training never uses one here. */
    @Override
    public LayerHelper getHelper() {
        return null;
    }

    @Override
    public INDArray preOutput(INDArray x, TrainingMode training, LayerWorkspaceMgr workspaceMgr) {
        if (training != TrainingMode.TRAIN) {
            if (x.isEmpty()) {
                return Nd4j.create(dataType, x.shape());
            }
            // Inference: DL4J's own path on the running statistics, no communication.
            return super.preOutput(x, training, workspaceMgr);
        }
        if (frozen) {
            backwardPending = true;
            localCount = x.isEmpty() ? 0 : x.length() / channels;
            return x.isEmpty() ? Nd4j.create(dataType, x.shape()) : super.preOutput(x, TrainingMode.TEST, workspaceMgr);
        }
        return trainingForward(x, workspaceMgr);
    }

    /**
     * Takes part in the forward statistics exchange with an empty local batch, exactly as a training
     * forward on a 0-example input would, for a replica that has no data this step. Must be followed by
     * {@link #backwardWithoutData()} if the other replicas run a backward pass.
     */
    public void forwardWithoutData() {
        exchangeForwardStatistics(null);
        normalized = null;
        backwardPending = true;
    }

    /**
     * Takes part in the backward exchange with an empty local batch, writes zero γ/β gradients and
     * the (replica-independent) running-statistic pseudo-gradients into this layer's gradient views,
     * and returns them as a {@link Gradient}.
     */
    public Gradient backwardWithoutData() {
        requireBackwardPending();
        Arrays.fill(gradientSums, 0.0);
        writeLocalAffineGradients();
        allReduceSum(gradientSums, 2 * channels);
        return finishBackward();
    }

    private INDArray trainingForward(INDArray x, LayerWorkspaceMgr workspaceMgr) {
        int axis = channelAxis(x);
        normalized = null;
        kernelInput = null;
        lastForwardOnKernels = !x.isEmpty() && dataType == DataType.FLOAT && BatchNormKernels.applies(x);
        if (lastForwardOnKernels) {
            return kernelForward(x, workspaceMgr);
        }
        exchangeForwardStatistics(x);
        backwardPending = true;
        if (localCount == 0) {
            return Nd4j.create(dataType, x.shape());
        }
        INDArray in = x.castTo(dataType);
        if (!Shape.strideDescendingCAscendingF(in)) {
            in = in.dup('c'); // as DL4J's BatchNorm: broadcast ops mishandle some permuted views
        }
        // Kept until backprop: INPUT outlives this layer's working memory (ComputationGraph keeps it
        // open through the backward pass; with no workspaces it is a plain array).
        normalized = workspaceMgr.createUninitialized(ArrayType.INPUT, dataType, in.shape(), 'c');
        Nd4j.getExecutioner().exec(new BroadcastSubOp(in, vector(globalMean), normalized, axis));
        Nd4j.getExecutioner().exec(new BroadcastMulOp(normalized, vector(invStd), normalized, axis));

        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, dataType, in.shape(), 'c');
        if (layerConf().isLockGammaBeta()) {
            out.assign(normalized);
            if (layerConf().getGamma() != 1.0) {
                out.muli(layerConf().getGamma());
            }
            if (layerConf().getBeta() != 0.0) {
                out.addi(layerConf().getBeta());
            }
        } else {
            Nd4j.getExecutioner().exec(new BroadcastMulOp(normalized,
                    getParam(BatchNormalizationParamInitializer.GAMMA), out, axis));
            Nd4j.getExecutioner().exec(new BroadcastAddOp(out, getParam(BatchNormalizationParamInitializer.BETA), out, axis));
        }
        return out;
    }

    /**
     * The training forward on {@link BatchNormKernels}: one pass for the local sums, one for
     * y = (x−μ)·γ/√(σ²+eps) + β. Keeps x (not x̂) for the backward: x is the layer's input, which the
     * graph keeps alive through the backward anyway, so nothing extra is stored.
     */
    private INDArray kernelForward(INDArray x, LayerWorkspaceMgr workspaceMgr) {
        INDArray in = x;
        if (!HostFloats.isDense(x)) {
            in = workspaceMgr.dup(ArrayType.INPUT, x, 'c');
        }
        BatchNormKernels.Layout layout = layout(in);
        kernelInput = in;
        exchangeForwardStatistics(in);
        backwardPending = true;
        gammaValues(scratch);
        double[] beta = betaValues();
        for (int c = 0; c < channels; c++) {
            center[c] = (float) globalMean[c];
            scale[c] = (float) (scratch[c] * invStd[c]);
            offset[c] = (float) beta[c];
        }
        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, dataType, in.shape(), 'c');
        kernels.affine(null, null, HostFloats.readable(in), layout, center, scale, offset, HostFloats.writable(out));
        return out;
    }

    private BatchNormKernels.Layout layout(INDArray x) {
        return BatchNormKernels.Layout.of(x, x.rank() == 4 && layerConf().getCnn2DFormat() == CNN2DFormat.NHWC);
    }

    /** A per-channel vector in the network data type. */
    private INDArray vector(double[] values) {
        return Nd4j.createFromArray(values).castTo(dataType);
    }

    /**
     * Computes the local shifted sums of {@code x} (null: empty batch), all-reduces them and fills the
     * global mean, variance and inverse std.
     */
    private void exchangeForwardStatistics(INDArray x) {
        readVector(getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN), runningMean);
        Arrays.fill(statistics, 0.0);
        long local = 0;
        if (x != null && !x.isEmpty() && x == kernelInput) {
            local = x.length() / channels;
            kernels.shiftedSums(HostFloats.readable(x), layout(x), runningMean, localFirst, localSecond);
            System.arraycopy(localFirst, 0, statistics, 0, channels);
            System.arraycopy(localSecond, 0, statistics, channels, channels);
        } else if (x != null && !x.isEmpty()) {
            int[] reduceDims = reductionDims(x);
            local = x.length() / channels;
            INDArray sum = x.castTo(DataType.DOUBLE).sum(reduceDims);
            double[] sums = sum.toDoubleVector();
            double[] variances = x.var(false, reduceDims).castTo(DataType.DOUBLE).toDoubleVector();
            for (int c = 0; c < channels; c++) {
                double shiftedSum = sums[c] - local * runningMean[c];
                double localVariance = local == 1 ? 0.0 : Math.max(0.0, variances[c]);
                statistics[c] = shiftedSum;
                statistics[channels + c] = local * localVariance + shiftedSum * shiftedSum / local;
            }
        }
        statistics[2 * channels] = local;
        allReduceSum(statistics, 2 * channels + 1);

        double n = statistics[2 * channels];
        if (n <= 0) {
            throw new IllegalStateException(layerId() + ": the global batch of this training step is empty on every "
                    + "replica; a synchronized BatchNorm cannot normalize 0 values. Skip such a step on all replicas.");
        }
        if (n < 2 && unbiasedRunningVariance()) {
            throw new IllegalStateException(layerId() + ": the global batch holds a single value per channel, so its "
                    + "unbiased variance is undefined (PyTorch refuses this too). Use a larger batch, or "
                    + "SyncBatchNormalization.setUnbiasedRunningVariance(false) for DL4J's biased running variance.");
        }
        double eps = layerConf().getEps();
        for (int c = 0; c < channels; c++) {
            double shiftedMean = statistics[c] / n;
            double variance = statistics[channels + c] / n - shiftedMean * shiftedMean;
            if (variance < 0.0) {
                variance = 0.0; // rounding of a (near-)constant channel; NaN input stays NaN
            }
            globalMean[c] = runningMean[c] + shiftedMean;
            globalVariance[c] = variance;
            invStd[c] = 1.0 / Math.sqrt(variance + eps);
        }
        globalCount = n;
        localCount = local;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        requireBackwardPending();
        long local = epsilon.isEmpty() ? 0 : epsilon.length() / channels;
        if (local != localCount) {
            throw new IllegalStateException(layerId() + ": backprop epsilon has " + local + " values per channel but the "
                    + "training forward had " + localCount + " (epsilon shape " + Arrays.toString(epsilon.shape()) + ")");
        }
        if (frozen) {
            return frozenBackward(epsilon, workspaceMgr);
        }
        Arrays.fill(gradientSums, 0.0);
        int axis = channelAxis(epsilon);
        if (local > 0 && kernelInput != null) {
            return kernelBackward(epsilon, workspaceMgr);
        }
        INDArray dy = null;
        if (local > 0) {
            int[] reduceDims = reductionDims(epsilon);
            dy = epsilon.castTo(dataType);
            double[] sumDy = dy.sum(reduceDims).castTo(DataType.DOUBLE).toDoubleVector();
            double[] sumDyXhat = dy.mul(normalized).sum(reduceDims).castTo(DataType.DOUBLE).toDoubleVector();
            System.arraycopy(sumDy, 0, gradientSums, 0, channels);
            System.arraycopy(sumDyXhat, 0, gradientSums, channels, channels);
        }
        // dγ, dβ: local sums, written before the all-reduce overwrites the buffer with global sums.
        writeLocalAffineGradients();
        allReduceSum(gradientSums, 2 * channels);

        INDArray epsilonOut;
        if (local > 0) {
            // dx = s·(dy − a − b·x̂) with s = γ·invStd, a = Σdy/n, b = Σdy·x̂/n (global sums and count).
            double n = globalCount;
            gammaValues(scratch);
            for (int c = 0; c < channels; c++) {
                scratch[c] *= invStd[c];
                dxOffset[c] = gradientSums[c] / n;
                dxScale[c] = gradientSums[channels + c] / n;
            }
            // x̂ is not needed after this: overwrite it in place.
            Nd4j.getExecutioner().exec(new BroadcastMulOp(normalized, vector(dxScale), normalized, axis));
            normalized.rsubi(dy);
            Nd4j.getExecutioner().exec(new BroadcastSubOp(normalized, vector(dxOffset), normalized, axis));
            epsilonOut = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, dataType, epsilon.shape(), 'c');
            Nd4j.getExecutioner().exec(new BroadcastMulOp(normalized, vector(scratch), epsilonOut, axis));
        } else {
            epsilonOut = Nd4j.create(dataType, epsilon.shape());
        }
        Gradient gradient = finishBackward();
        return new Pair<>(gradient, epsilonOut);
    }

    /**
     * The backward on {@link BatchNormKernels}: one pass reading dy and x for Σdy and Σdy·(x−μ), the
     * exchange, one pass reading them again to write dx = γ/√(σ²+eps)·(dy − Σdy/n − x̂·Σdy·x̂/n).
     */
    private Pair<Gradient, INDArray> kernelBackward(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        INDArray dy = epsilon.dataType() == DataType.FLOAT && epsilon.ordering() == 'c' ? epsilon : epsilon.castTo(DataType.FLOAT).dup('c');
        java.nio.FloatBuffer dyValues = HostFloats.readable(dy);
        java.nio.FloatBuffer xValues = HostFloats.readable(kernelInput);
        BatchNormKernels.Layout layout = layout(kernelInput);
        kernels.gradientSums(dyValues, xValues, layout, globalMean, localFirst, localSecond);
        for (int c = 0; c < channels; c++) {
            gradientSums[c] = localFirst[c];
            gradientSums[channels + c] = localSecond[c] * invStd[c];
        }
        writeLocalAffineGradients();
        allReduceSum(gradientSums, 2 * channels);
        double n = globalCount;
        gammaValues(scratch);
        for (int c = 0; c < channels; c++) {
            double k = scratch[c] * invStd[c];
            double a = gradientSums[c] / n;
            double b = gradientSums[channels + c] / n;
            dyScale[c] = (float) k;
            center[c] = (float) globalMean[c];
            scale[c] = (float) (-b * invStd[c]);
            offset[c] = (float) a;
        }
        INDArray epsilonOut = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, dataType, kernelInput.shape(), 'c');
        kernels.affine(dyValues, dyScale, xValues, layout, center, scale, offset, HostFloats.writable(epsilonOut));
        Gradient gradient = finishBackward();
        return new Pair<>(gradient, epsilonOut);
    }

    /** The running statistics are constants here: dx = dy·γ/√(var+eps); no parameter changes. */
    private Pair<Gradient, INDArray> frozenBackward(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        INDArray epsilonOut;
        if (epsilon.isEmpty()) {
            epsilonOut = Nd4j.create(dataType, epsilon.shape());
        } else {
            double eps = layerConf().getEps();
            double[] variance = new double[channels];
            if (layerConf().isUseLogStd()) {
                readVector(getParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD), variance);
                for (int c = 0; c < channels; c++) {
                    double std = Math.pow(10.0, variance[c]);
                    variance[c] = std * std;
                }
            } else {
                readVector(getParam(BatchNormalizationParamInitializer.GLOBAL_VAR), variance);
            }
            double[] gamma = new double[channels];
            gammaValues(gamma);
            for (int c = 0; c < channels; c++) {
                gamma[c] /= Math.sqrt(variance[c] + eps);
            }
            INDArray scale = vector(gamma);
            INDArray dy = epsilon.castTo(dataType);
            epsilonOut = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, dataType, epsilon.shape(), 'c');
            Nd4j.getExecutioner().exec(new BroadcastMulOp(dy, scale, epsilonOut, channelAxis(epsilon)));
        }
        Gradient gradient = new DefaultGradient();
        for (String key : gradientViews.keySet()) {
            INDArray view = gradientView(key);
            view.assign(0);
            gradient.setGradientFor(key, view);
        }
        backwardPending = false;
        this.gradient = gradient;
        return new Pair<>(gradient, epsilonOut);
    }

    /** Writes the running-statistic pseudo-gradients and assembles the Gradient. */
    private Gradient finishBackward() {
        writeRunningStatisticGradients();
        Gradient gradient = new DefaultGradient();
        if (!layerConf().isLockGammaBeta()) {
            gradient.setGradientFor(BatchNormalizationParamInitializer.GAMMA,
                    gradientView(BatchNormalizationParamInitializer.GAMMA));
            gradient.setGradientFor(BatchNormalizationParamInitializer.BETA,
                    gradientView(BatchNormalizationParamInitializer.BETA));
        }
        gradient.setGradientFor(BatchNormalizationParamInitializer.GLOBAL_MEAN,
                gradientView(BatchNormalizationParamInitializer.GLOBAL_MEAN));
        String varianceKey = layerConf().isUseLogStd()
                ? BatchNormalizationParamInitializer.GLOBAL_LOG_STD : BatchNormalizationParamInitializer.GLOBAL_VAR;
        gradient.setGradientFor(varianceKey, gradientView(varianceKey));
        backwardPending = false;
        normalized = null;
        kernelInput = null;
        this.gradient = gradient;
        return gradient;
    }

    private void writeLocalAffineGradients() {
        if (layerConf().isLockGammaBeta()) {
            return;
        }
        writeVector(gradientView(BatchNormalizationParamInitializer.BETA), gradientSums, 0);
        writeVector(gradientView(BatchNormalizationParamInitializer.GAMMA), gradientSums, channels);
    }

    private void writeRunningStatisticGradients() {
        double decay = layerConf().getDecay();
        double n = globalCount;
        double correction = unbiasedRunningVariance() ? n / (n - 1.0) : 1.0;
        // Re-read: the forward's copy is the same unless someone changed parameters in between.
        readVector(getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN), runningMean);
        for (int c = 0; c < channels; c++) {
            dxOffset[c] = (1.0 - decay) * (runningMean[c] - globalMean[c]);
        }
        writeVector(gradientView(BatchNormalizationParamInitializer.GLOBAL_MEAN), dxOffset, 0);
        if (layerConf().isUseLogStd()) {
            readVector(getParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD), scratch);
            for (int c = 0; c < channels; c++) {
                double std = Math.pow(10.0, scratch[c]);
                double variance = std * std;
                double next = decay * variance + (1.0 - decay) * globalVariance[c] * correction;
                // log10(std_t) − log10(std_{t+1}) = ½·log10(var_t / var_{t+1})
                dxScale[c] = 0.5 * Math.log10(variance / next);
            }
            writeVector(gradientView(BatchNormalizationParamInitializer.GLOBAL_LOG_STD), dxScale, 0);
        } else {
            readVector(getParam(BatchNormalizationParamInitializer.GLOBAL_VAR), scratch);
            for (int c = 0; c < channels; c++) {
                dxScale[c] = (1.0 - decay) * (scratch[c] - globalVariance[c] * correction);
            }
            writeVector(gradientView(BatchNormalizationParamInitializer.GLOBAL_VAR), dxScale, 0);
        }
    }

    private void allReduceSum(double[] buffer, int length) {
        Collective group = collective;
        if (group == null || group.size() <= 1) {
            return;
        }
        long start = System.nanoTime();
        group.allReduce(buffer, 0, length, ReduceOp.SUM);
        communicationNanos += System.nanoTime() - start;
        communications++;
    }

    private void requireBackwardPending() {
        if (!backwardPending) {
            throw new IllegalStateException(layerId() + ": backward pass without a preceding training forward "
                    + "(activate(true, …) or forwardWithoutData()); a synchronized BatchNorm pairs each backward with "
                    + "the global statistics of its forward");
        }
    }

    private boolean unbiasedRunningVariance() {
        org.deeplearning4j.nn.conf.layers.Layer conf = conf().getLayer();
        return conf instanceof SyncBatchNormalization && ((SyncBatchNormalization) conf).isUnbiasedRunningVariance();
    }

    private void gammaValues(double[] into) {
        if (layerConf().isLockGammaBeta()) {
            Arrays.fill(into, layerConf().getGamma());
        } else {
            readVector(getParam(BatchNormalizationParamInitializer.GAMMA), into);
        }
    }

    private INDArray gradientView(String key) {
        INDArray view = gradientViews == null ? null : gradientViews.get(key);
        if (view == null) {
            throw new IllegalStateException(layerId() + ": no gradient view for parameter '" + key + "'; the layer must "
                    + "belong to an initialized graph (or have setBackpropGradientsViewArray called) before training");
        }
        return view;
    }

    private int channelAxis(INDArray x) {
        int axis;
        if (x.rank() == 2) {
            axis = 1;
        } else if (x.rank() == 4) {
            axis = layerConf().getCnn2DFormat() == CNN2DFormat.NHWC ? 3 : 1;
        } else {
            throw new IllegalArgumentException(layerId() + ": synchronized BatchNorm supports rank-2 (NC) and rank-4 "
                    + "(NCHW/NHWC) activations, got shape " + Arrays.toString(x.shape())
                    + "; use DL4J's BatchNormalization for recurrent inputs");
        }
        if (x.size(axis) != channels) {
            throw new IllegalArgumentException(layerId() + ": input has " + x.size(axis) + " channels on axis " + axis
                    + " but the layer has nOut=" + channels + " (shape " + Arrays.toString(x.shape()) + ")");
        }
        return axis;
    }

    private int[] reductionDims(INDArray x) {
        if (x.rank() == 2) {
            return new int[] {0};
        }
        return layerConf().getCnn2DFormat() == CNN2DFormat.NHWC ? new int[] {0, 1, 2} : new int[] {0, 2, 3};
    }

    /**
     * Copies a per-channel vector (any backend, any data type) into {@code into}. A float vector in host
     * memory is read where it lies: ND4J's cast and copy would create two arrays per call, a dozen calls a
     * layer and step, and every ND4J array costs its native shape buffer, deallocator and garbage.
     */
    private static void readVector(INDArray vector, double[] into) {
        long stride = vector.elementWiseStride();
        if (HostFloats.fits(vector) && stride > 0) {
            DataBuffer data = vector.data(); // a view's buffer starts at the view's first element
            for (int i = 0; i < into.length; i++) {
                into[i] = data.getFloat(i * stride);
            }
            return;
        }
        System.arraycopy(vector.castTo(DataType.DOUBLE).toDoubleVector(), 0, into, 0, into.length);
    }

    /**
     * Assigns {@code values[from, from + length(view))} to a per-channel view (any backend, any data type),
     * in place in host memory for a float view, as {@link #readVector} reads.
     */
    private static void writeVector(INDArray view, double[] values, int from) {
        long stride = view.elementWiseStride();
        if (HostFloats.fits(view) && stride > 0) {
            DataBuffer data = view.data();
            for (int i = 0; i < view.length(); i++) {
                data.put(i * stride, (float) values[from + i]);
            }
            return;
        }
        double[] part = Arrays.copyOfRange(values, from, from + (int) view.length());
        view.assign(Nd4j.createFromArray(part).reshape(view.shape()).castTo(view.dataType()));
    }

    private double[] betaValues() {
        if (layerConf().isLockGammaBeta()) {
            double[] beta = new double[channels];
            Arrays.fill(beta, layerConf().getBeta());
            return beta;
        }
        double[] beta = new double[channels];
        readVector(getParam(BatchNormalizationParamInitializer.BETA), beta);
        return beta;
    }
}
