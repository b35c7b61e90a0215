package io.lockstep.worker.train;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.ReduceOp;
import io.lockstep.worker.comm.WireCompression;
import io.lockstep.worker.device.HostMemory;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.FloatBuffer;

/**
 * Synchronous SGD: the gradient is averaged over all replicas every step with the ring all-reduce.
 *
 * <p>The whole flattened gradient is one bucket: its layout is fixed by the model configuration, so
 * it is identical on every rank, and the collective chunks it in the same fixed order everywhere. The
 * ring gives every rank the same bits, so replicas that start equal stay bit-for-bit equal.
 *
 * <p>With a {@link WireCompression} other than {@code NONE} the gradient travels narrowed (2 bytes per
 * value) while every rank still accumulates in fp32 in the same ring order, so replicas stay bit-identical
 * to each other; only the gradient is narrowed — parameters, updater state and BatchNorm statistics go
 * through other, exact calls.
 *
 * <p>The off-heap gradient is copied into one reused heap array (no allocation per step); the copy
 * costs far less than the exchange itself. Owned by the replica's training thread.
 */
public final class AllReduceExchange implements GradientExchange {
    private final Collective collective;
    private final WireCompression compression;
    private float[] staging = new float[0];
    private long lastBytesSent;
    private long lastNanos;

    /** Exact: fp32 on the wire. */
    public AllReduceExchange(Collective collective) {
        this(collective, WireCompression.NONE);
    }

    public AllReduceExchange(Collective collective, WireCompression compression) {
        this.collective = collective;
        this.compression = java.util.Objects.requireNonNull(compression, "compression");
    }

    @Override
    public void exchange(INDArray flatGradient, int epoch, long step) {
        long start = System.nanoTime();
        if (flatGradient.dataType() != DataType.FLOAT) {
            throw new IllegalStateException("all-reduce exchange needs FLOAT gradients, model uses "
                    + flatGradient.dataType() + "; set the network data type to FLOAT");
        }
        int length = Math.toIntExact(flatGradient.length());
        if (staging.length != length) {
            staging = new float[length];
        }
        FloatBuffer view = HostMemory.floats(flatGradient);
        int first = view.position();
        view.get(staging, 0, length);
        collective.allReduce(staging, 0, length, ReduceOp.AVERAGE, compression);
        view.position(first);
        view.put(staging, 0, length);
        HostMemory.afterHostWrite(flatGradient);
        int n = collective.size();
        int bytesPerValue = compression == WireCompression.NONE ? Float.BYTES : 2;
        lastBytesSent = n <= 1 ? 0 : (long) (2.0 * (n - 1) / n * length * bytesPerValue);
        lastNanos = System.nanoTime() - start;
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
