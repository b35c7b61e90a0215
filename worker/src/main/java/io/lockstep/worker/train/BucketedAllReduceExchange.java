package io.lockstep.worker.train;

import io.lockstep.worker.comm.AsyncCollective;
import io.lockstep.worker.comm.ReduceOp;
import io.lockstep.worker.comm.WireCompression;
import io.lockstep.worker.device.HostMemory;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Synchronous SGD with the gradient all-reduced in buckets on the communication agent, optionally while
 * backward is still running (as PyTorch's DistributedDataParallel does).
 *
 * <p><b>Buckets.</b> DL4J's layer gradients are views into one flat gradient laid out in topological
 * order, so a bucket is a contiguous range of it: consecutive layers, taken in reverse order (the order
 * backward produces them) until the bucket holds at least {@code bucketBytes}. The layout is a function
 * of the model configuration, so every rank cuts the same buckets and submits them in the same order;
 * the ring all-reduce gives every rank the same bits, so replicas stay bit-identical. Layers named in
 * {@code excluded} (frozen layers, whose gradient is zero) are in no bucket and never sent.
 *
 * <p><b>Overlap.</b> With overlap on, {@link BackwardProgress} reports each layer whose backward has
 * finished, and every bucket whose layers are all done is submitted at once; {@link #exchange}, called
 * after backward, submits what is left and waits for all of them, so the optimizer step waits only for
 * the tail. SyncBatchNorm's reductions inside backward go through the same agent, queued between buckets
 * in an order fixed by the graph, hence identical on every rank. With overlap off, every bucket is
 * submitted after backward.
 *
 * <p><b>Compression.</b> With a {@link WireCompression} other than {@code NONE} each bucket travels narrowed
 * (2 bytes per value) straight from the gradient's memory while every rank accumulates in fp32 in the same
 * ring order, so replicas stay bit-identical to each other, as with {@link AllReduceExchange}.
 *
 * <p>{@link #lastExchangeNanos()} is the exposed exchange time: what the training thread spent waiting
 * in {@link #exchange}, not the time buckets spent on the wire behind compute. Owned by the replica's
 * training thread.
 */
public final class BucketedAllReduceExchange implements GradientExchange {
    private final AsyncCollective collective;
    private final long bucketBytes;
    private final boolean overlap;
    private final Set<String> excluded;
    private final WireCompression compression;
    private final List<Bucket> buckets = new ArrayList<>();
    private final List<AsyncCollective.Pending> inFlight = new ArrayList<>();
    private final BucketListener bucketListener;
    private ComputationGraph graph;
    private long flatLength;
    private int next;
    private long lastBytesSent;
    private long lastNanos;

    /** Called on the training thread each time a bucket is submitted, with the topological position reached. */
    @FunctionalInterface
    public interface BucketListener {
        void submitted(int bucket, int backwardPosition);

        BucketListener NONE = (bucket, position) -> { };
    }

    /** A contiguous range of the flat gradient; ready once backward has reached topological position {@code readyAt}. */
    public record Bucket(long start, long length, int readyAt) {
    }

    public BucketedAllReduceExchange(AsyncCollective collective, long bucketBytes, boolean overlap, Set<String> excluded) {
        this(collective, bucketBytes, overlap, excluded, WireCompression.NONE);
    }

    /** @param compression narrowing of every bucket on the wire */
    public BucketedAllReduceExchange(AsyncCollective collective, long bucketBytes, boolean overlap, Set<String> excluded,
                                     WireCompression compression) {
        this(collective, bucketBytes, overlap, excluded, compression, BucketListener.NONE);
    }

    BucketedAllReduceExchange(AsyncCollective collective, long bucketBytes, boolean overlap, Set<String> excluded,
                              WireCompression compression, BucketListener bucketListener) {
        this.collective = Objects.requireNonNull(collective, "collective");
        if (bucketBytes < Float.BYTES) {
            throw new IllegalArgumentException("the bucket size must hold at least one float, was " + bucketBytes
                    + " bytes; use --bucket-size with a positive number of MB");
        }
        this.bucketBytes = bucketBytes;
        this.overlap = overlap;
        this.excluded = Set.copyOf(excluded);
        this.compression = Objects.requireNonNull(compression, "compression");
        this.bucketListener = bucketListener;
    }

    @Override
    public void attach(ComputationGraph graph) {
        this.graph = graph;
        this.flatLength = graph.numParams();
        buckets.clear();
        buckets.addAll(cut(graph, bucketBytes / Float.BYTES, excluded));
        if (overlap) {
            BackwardProgress.install(graph, this::gradientReady);
        }
    }

    /** The buckets, in the order they are submitted. */
    public List<Bucket> buckets() {
        return List.copyOf(buckets);
    }

    /**
     * Cuts the flat gradient of {@code graph} into buckets of whole layers, from the last layer back, each
     * closed once it holds at least {@code bucketFloats}; excluded layers break a bucket.
     */
    static List<Bucket> cut(ComputationGraph graph, long bucketFloats, Set<String> excluded) {
        GraphVertex[] vertices = graph.getVertices();
        int[] order = graph.topologicalSortOrder();
        INDArray params = graph.params();
        long offset = 0;
        long[] starts = new long[order.length];
        long[] lengths = new long[order.length];
        for (int p = 0; p < order.length; p++) {
            GraphVertex vertex = vertices[order[p]];
            long n = vertex.numParams();
            if (n > 0) {
                long viewOffset = vertex.params().offset() - params.offset();
                if (viewOffset != offset) {
                    throw new IllegalStateException("the parameters of layer " + vertex.getVertexName() + " start at "
                            + viewOffset + " in the flat parameter array, not at " + offset + " as topological order "
                            + "implies; this DL4J version lays parameters out differently: use --overlap off");
                }
            }
            starts[p] = offset;
            lengths[p] = n;
            offset += n;
        }
        if (offset != graph.numParams()) {
            throw new IllegalStateException("layers hold " + offset + " parameters but the model " + graph.numParams());
        }
        List<Bucket> result = new ArrayList<>();
        long start = -1;
        long end = -1;
        int readyAt = -1;
        for (int p = order.length - 1; p >= 0; p--) {
            if (lengths[p] == 0) {
                continue;
            }
            if (excluded.contains(vertices[order[p]].getVertexName())) {
                if (start >= 0) {
                    result.add(new Bucket(start, end - start, readyAt));
                    start = -1;
                }
                continue;
            }
            if (start < 0) {
                end = starts[p] + lengths[p];
            }
            start = starts[p];
            readyAt = p;
            if (end - start >= bucketFloats) {
                result.add(new Bucket(start, end - start, readyAt));
                start = -1;
            }
        }
        if (start >= 0) {
            result.add(new Bucket(start, end - start, readyAt));
        }
        for (Bucket bucket : result) {
            if (bucket.length() > Integer.MAX_VALUE) {
                throw new IllegalStateException("a layer holds more than 2^31 parameters: " + bucket.length());
            }
        }
        return result;
    }

    private void gradientReady(int position) {
        while (next < buckets.size() && buckets.get(next).readyAt() >= position) {
            submitNext(position);
        }
    }

    private void submitNext(int position) {
        Bucket bucket = buckets.get(next);
        INDArray flat = graph.getFlattenedGradients();
        ByteBuffer bytes = HostMemory.bytes(flat).duplicate().order(ByteOrder.nativeOrder());
        int first = Math.toIntExact(flat.offset() + bucket.start());
        inFlight.add(collective.allReduceAsync(bytes, first, (int) bucket.length(), ReduceOp.AVERAGE, compression));
        bucketListener.submitted(next, position);
        next++;
    }

    /** Buckets are ranges of the model's flat gradient. */
    @Override
    public boolean needsModelLayout() {
        return true;
    }

    @Override
    public void exchange(INDArray flatGradient, int epoch, long step) {
        long start = System.nanoTime();
        if (flatGradient.dataType() != DataType.FLOAT) {
            throw new IllegalStateException("all-reduce exchange needs FLOAT gradients, model uses "
                    + flatGradient.dataType() + "; set the network data type to FLOAT");
        }
        if (graph == null || flatGradient.length() != flatLength) {
            throw new IllegalStateException("the bucketed exchange needs the model's whole flat gradient ("
                    + flatLength + " values), got " + flatGradient.length() + "; attach it to the model first");
        }
        try {
            while (next < buckets.size()) {
                submitNext(-1);
            }
            long sent = 0;
            for (int i = 0; i < inFlight.size(); i++) {
                inFlight.get(i).await();
                sent += buckets.get(i).length();
            }
            int n = collective.size();
            int bytesPerValue = compression == WireCompression.NONE ? Float.BYTES : 2;
            lastBytesSent = n <= 1 ? 0 : (long) (2.0 * (n - 1) / n * sent * bytesPerValue);
        } finally {
            inFlight.clear();
            next = 0;
        }
        HostMemory.afterHostWrite(flatGradient);
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
