package io.lockstep.worker.exchange;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.CollectiveException;
import io.lockstep.worker.train.GradientExchange;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;
import java.util.Map;
import java.util.Objects;

/**
 * {@code threshold}: synchronous, threshold-encoded sparse gradient sharing with residuals (Strom 2015,
 * the scheme of DL4J's gradient sharing).
 *
 * <p>Every step each replica adds its gradient to its residual, giving {@code v}; the entries with
 * {@code |v| >= τ} are sent as {@code ±τ} with their index (or as a 2-bit-per-entry bitmap when that is
 * smaller, see {@link ThresholdCodec}) and {@code v − sent} stays in the residual, so no part of any
 * gradient is lost, only delayed. The messages of all replicas are exchanged with one all-gather, decoded
 * in rank order and averaged ({@code Σ decoded / N}) into the flat gradient before the optimizer runs.
 * Every replica therefore applies the same bits and parameters stay identical. Unlike DL4J the exchange
 * is synchronous, the updates are averaged rather than summed, and the optimizer (momentum, Adam) runs
 * after decoding on the shared sparse gradient, identically everywhere.
 *
 * <p>BatchNorm running statistics are not gradients but direct updates (DL4J applies them through a NoOp
 * updater, undivided by the minibatch); quantizing them to ±τ would corrupt inference, so their entries
 * ({@link DenseRanges}) are sent exactly, as floats, and averaged like {@code allreduce} does. The layout
 * comes from the model: call {@link #attach} before the first step. Without it the exchange attaches
 * itself in the first {@link #afterStep}, and step 0 threshold-encodes those statistics too.
 *
 * <p>τ is per replica ({@link ThresholdController}): each replica picks τ from its own {@code v} so it sends
 * a fraction inside the configured range; messages carry their τ, so replicas need not agree on it.
 *
 * <p>Metrics per step ({@link #lastStepMetrics()}): {@code compression_ratio} (dense float gradient bytes /
 * this replica's message bytes, BatchNorm statistics included), {@code threshold} (this replica's τ),
 * {@code sent_fraction} (entries sent as ±τ by all replicas / (N·entries)), {@code own_sent_fraction},
 * {@code bitmap} (1 when this replica sent the bitmap form), {@code threshold_passes} (extra counting
 * passes spent choosing τ). {@link #lastBytesSent()} is this replica's message size times N−1 (exact for
 * N = 2; a ring all-gather of unequal messages forwards about the same). {@link #lastExchangeNanos()} is
 * wall time including the wait for the slowest peer.
 *
 * <p>State for checkpoints: {@link #state()} and {@link #restore(Map)} (the residual is per replica).
 *
 * <p>Owned by the replica's training thread; not thread-safe. The encode and decode allocate nothing in
 * the steady state; the only per-step allocation is the exactly-sized message array that
 * {@link Collective#allGather(byte[])} requires (reused whenever its size repeats, as with the bitmap).
 */
public final class ThresholdExchange implements GradientExchange {
    private static final Logger LOG = LoggerFactory.getLogger(ThresholdExchange.class);
    public static final String STATE_RESIDUAL = "residual";
    public static final String STATE_THRESHOLD = "threshold";

    private final Collective collective;
    private final ThresholdController controller;
    private final FlatFloats gradientView = new FlatFloats("gradient");
    private float[] gradient = new float[0];
    private float[] residual;
    private byte[] message = new byte[0];
    private DenseRanges denseRanges = DenseRanges.NONE;
    private float[] dense = new float[0];
    private boolean attached;
    private Map<String, float[]> pendingRestore;

    private long lastBytesSent;
    private long lastNanos;
    private int lastOwnBytes;
    private int lastLength;
    private int lastOwnCount;
    private long lastTotalCount;
    private boolean lastBitmap;
    private int lastPasses;

    public ThresholdExchange(Collective collective, ExchangeSettings settings) {
        this.collective = Objects.requireNonNull(collective, "collective");
        Objects.requireNonNull(settings, "settings");
        this.controller = new ThresholdController(settings.thresholdInitial(), settings.thresholdMinSentFraction(),
                settings.thresholdMaxSentFraction());
    }

    /** BatchNorm statistics are found, and kept exact, by their index in the model's flat gradient. */
    @Override
    public boolean needsModelLayout() {
        return true;
    }

    @Override
    public void exchange(INDArray flatGradient, int epoch, long step) {
        long start = System.nanoTime();
        int length = gradientView.length(flatGradient);
        prepare(length);
        gradientView.copyOut(flatGradient, gradient, 0);

        if (denseRanges.end() > length) {
            throw new IllegalStateException("the attached model's BatchNorm statistics reach flat index "
                    + denseRanges.end() + " but the gradient has " + length + " entries; attach the model being trained");
        }
        int count = ThresholdCodec.mergeAndCount(residual, gradient, length, controller.threshold(), denseRanges, dense);
        count = controller.choose(residual, length, count);
        float tau = controller.threshold();
        int denseCount = denseRanges.total();
        int bytes = ThresholdCodec.messageBytes(length, count, denseCount);
        if (message.length != bytes) {
            message = new byte[bytes];
        }
        ThresholdCodec.encode(residual, length, tau, count, dense, denseCount, message);

        byte[][] all = collective.allGather(message);
        int size = collective.size();
        if (all.length != size) {
            throw new CollectiveException("all-gather returned " + all.length + " messages for a group of " + size);
        }
        Arrays.fill(gradient, 0, length, 0f);
        long total = 0;
        for (int rank = 0; rank < size; rank++) {
            total += ThresholdCodec.decodeAdd(all[rank], rank, length, denseRanges, gradient);
        }
        if (size > 1) {
            float replicas = size;
            for (int i = 0; i < length; i++) {
                gradient[i] /= replicas;
            }
        }
        gradientView.copyIn(gradient, 0, flatGradient);

        lastLength = length;
        lastOwnBytes = bytes;
        lastOwnCount = count;
        lastTotalCount = total;
        lastBitmap = ThresholdCodec.usesBitmap(length, count);
        lastPasses = controller.lastPasses();
        lastBytesSent = (long) bytes * (size - 1);
        lastNanos = System.nanoTime() - start;
    }

    private void prepare(int length) {
        if (residual == null) {
            residual = new float[length];
            gradient = new float[length];
            if (pendingRestore != null) {
                apply(pendingRestore, length);
                pendingRestore = null;
            }
        } else if (residual.length != length) {
            throw new IllegalStateException("gradient has " + length + " entries but this exchange was used with "
                    + residual.length + "; use one ThresholdExchange per model");
        }
    }

    /**
     * Reads which gradient entries are BatchNorm running statistics from the replica's model, so they are
     * exchanged exactly. Call once, before the first step, on every replica (it changes the message layout).
     */
    @Override
    public void attach(ComputationGraph graph) {
        Objects.requireNonNull(graph, "graph");
        DenseRanges ranges = DenseRanges.batchNormStatistics(graph);
        if (attached) {
            if (!ranges.toString().equals(denseRanges.toString())) {
                throw new IllegalStateException("threshold exchange already attached to a model with BatchNorm statistics at "
                        + denseRanges + ", now " + ranges + "; use one exchange per model");
            }
            return;
        }
        denseRanges = ranges;
        dense = new float[ranges.total()];
        attached = true;
    }

    @Override
    public void afterStep(ComputationGraph graph, int epoch, long globalStep) {
        if (!attached) {
            LOG.warn("threshold exchange was not attached to the model before step {}: attaching now; BatchNorm "
                    + "statistics of the steps so far were threshold-encoded. Call attach(graph) before training.", globalStep);
            attach(graph);
        }
    }

    /** τ this replica will start the next step from. */
    public float threshold() {
        return controller.threshold();
    }

    /**
     * Copy of the state a checkpoint must keep to resume exactly: {@value #STATE_RESIDUAL} (this replica's
     * residual, one float per gradient entry; empty before the first step) and {@value #STATE_THRESHOLD}
     * (τ, one float). Residuals differ between replicas: store one per rank, or accept that a resume
     * without them drops at most τ per entry of not-yet-sent gradient.
     */
    public Map<String, float[]> state() {
        float[] savedResidual = residual != null ? residual.clone()
                : pendingRestore != null ? pendingRestore.get(STATE_RESIDUAL).clone() : new float[0];
        return Map.of(STATE_RESIDUAL, savedResidual, STATE_THRESHOLD, new float[] {controller.threshold()});
    }

    /**
     * Restores what {@link #state()} returned. Before the first step the residual's length is checked
     * against the model's gradient on the first {@link #exchange}; an empty residual means zeros.
     *
     * @throws IllegalArgumentException if a key is missing or a length does not match
     */
    public void restore(Map<String, float[]> state) {
        Objects.requireNonNull(state, "state");
        float[] savedResidual = state.get(STATE_RESIDUAL);
        float[] savedThreshold = state.get(STATE_THRESHOLD);
        if (savedResidual == null || savedThreshold == null || savedThreshold.length != 1) {
            throw new IllegalArgumentException("threshold exchange state needs '" + STATE_RESIDUAL + "' and a one-element '"
                    + STATE_THRESHOLD + "', got keys " + state.keySet() + "; the checkpoint was written by another strategy");
        }
        controller.threshold(savedThreshold[0]);
        Map<String, float[]> copy = Map.of(STATE_RESIDUAL, savedResidual.clone(), STATE_THRESHOLD, savedThreshold.clone());
        if (residual == null) {
            pendingRestore = copy;
        } else {
            apply(copy, residual.length);
        }
    }

    private void apply(Map<String, float[]> state, int length) {
        float[] savedResidual = state.get(STATE_RESIDUAL);
        if (savedResidual.length == 0) {
            Arrays.fill(residual, 0f);
            return;
        }
        if (savedResidual.length != length) {
            throw new IllegalArgumentException("checkpointed residual has " + savedResidual.length
                    + " entries but the model's gradient has " + length + "; the checkpoint belongs to another model");
        }
        System.arraycopy(savedResidual, 0, residual, 0, length);
    }

    @Override
    public Map<String, Double> lastStepMetrics() {
        if (lastLength == 0) {
            return Map.of();
        }
        int size = collective.size();
        return Map.of(
                "compression_ratio", (double) Float.BYTES * lastLength / lastOwnBytes,
                "threshold", (double) controller.threshold(),
                "sent_fraction", (double) lastTotalCount / ((double) size * lastLength),
                "own_sent_fraction", (double) lastOwnCount / lastLength,
                "bitmap", lastBitmap ? 1.0 : 0.0,
                "threshold_passes", (double) lastPasses);
    }

    @Override
    public long lastBytesSent() {
        return lastBytesSent;
    }

    @Override
    public long lastExchangeNanos() {
        return lastNanos;
    }
}
