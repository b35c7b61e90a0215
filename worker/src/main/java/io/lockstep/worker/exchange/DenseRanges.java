package io.lockstep.worker.exchange;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The entries of a model's flat gradient that must be exchanged exactly rather than threshold-encoded:
 * the "gradients" DL4J does not divide by the minibatch ({@code updaterDivideByMinibatch == false}),
 * which are really direct updates of BatchNorm running statistics (mean, var or log10stdev) applied
 * through a NoOp updater. Quantizing those to ±τ, with τ sized for the batch-summed gradients, would
 * move a running mean or log10 std by a whole τ at once and wreck inference.
 *
 * <p>Immutable; index ranges in increasing order, disjoint. Computed identically on every replica
 * because it depends only on the model configuration.
 */
final class DenseRanges {
    static final DenseRanges NONE = new DenseRanges(new int[0], new int[0]);

    private final int[] starts;
    private final int[] lengths;
    private final int total;

    private DenseRanges(int[] starts, int[] lengths) {
        this.starts = starts;
        this.lengths = lengths;
        this.total = Arrays.stream(lengths).sum();
    }

    /** Ranges of {@code graph}'s flat parameter (and gradient) vector holding BatchNorm running statistics. */
    static DenseRanges batchNormStatistics(ComputationGraph graph) {
        INDArray params = graph.params();
        long base = params.offset();
        long numParams = params.length();
        List<long[]> ranges = new ArrayList<>();
        for (GraphVertex vertex : graph.getVertices()) {
            if (vertex.numParams() == 0) {
                continue;
            }
            for (Map.Entry<String, INDArray> param : vertex.paramTable(false).entrySet()) {
                if (vertex.updaterDivideByMinibatch(param.getKey())) {
                    continue;
                }
                INDArray view = param.getValue();
                long start = view.offset() - base;
                long length = view.length();
                if (start < 0 || start + length > numParams) {
                    throw new IllegalStateException("parameter " + vertex.getVertexName() + "_" + param.getKey()
                            + " is not a view of the flattened parameters (offset " + start + ", length " + length
                            + " of " + numParams + "); the model was not initialized with a flat parameter view");
                }
                ranges.add(new long[] {start, length});
            }
        }
        ranges.sort((a, b) -> Long.compare(a[0], b[0]));
        int[] starts = new int[ranges.size()];
        int[] lengths = new int[ranges.size()];
        long previousEnd = 0;
        for (int i = 0; i < starts.length; i++) {
            long[] range = ranges.get(i);
            if (range[0] < previousEnd) {
                throw new IllegalStateException("parameter views overlap at flat index " + range[0]);
            }
            starts[i] = Math.toIntExact(range[0]);
            lengths[i] = Math.toIntExact(range[1]);
            previousEnd = range[0] + range[1];
        }
        return new DenseRanges(starts, lengths);
    }

    /** For tests: explicit ranges as (start, length) pairs in increasing order. */
    static DenseRanges of(int... startLengthPairs) {
        int[] starts = new int[startLengthPairs.length / 2];
        int[] lengths = new int[starts.length];
        for (int i = 0; i < starts.length; i++) {
            starts[i] = startLengthPairs[2 * i];
            lengths[i] = startLengthPairs[2 * i + 1];
        }
        return new DenseRanges(starts, lengths);
    }

    /** Number of entries in all ranges. */
    int total() {
        return total;
    }

    /** Largest end index of any range, 0 when empty. */
    int end() {
        return starts.length == 0 ? 0 : starts[starts.length - 1] + lengths[lengths.length - 1];
    }

    int rangeCount() {
        return starts.length;
    }

    int start(int range) {
        return starts[range];
    }

    int length(int range) {
        return lengths[range];
    }

    @Override
    public String toString() {
        return "DenseRanges" + Arrays.toString(starts) + "x" + Arrays.toString(lengths);
    }
}
