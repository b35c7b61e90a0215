package io.lockstep.models.layers;

import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.Map;

/**
 * The forward pass and hand-written backward pass of one {@link TokenLayer}, in plain ND4J ops on token
 * matrices {@code [minibatch*tokens, width]} (one row per token, so every projection is one large matrix
 * product). One instance per layer instance: it keeps what the backward pass needs from the last
 * training forward pass, in buffers it reuses from step to step (detached from DL4J's workspaces, so they
 * survive between forward and backward whatever the workspace configuration).
 *
 * <p>Not thread-safe: DL4J runs a layer's forward and backward on one thread.
 */
abstract class TokenKernel {
    private final Map<String, INDArray> buffers = new java.util.HashMap<>();

    /** The layer's output for {@code input}, created in {@code workspaces}' {@link ArrayType#ACTIVATIONS} memory. */
    abstract INDArray forward(INDArray input, Map<String, INDArray> params, LayerWorkspaceMgr workspaces);

    /**
     * Writes the parameters' gradients into {@code gradients} (DL4J's gradient views) and returns the
     * gradient of the input, in {@link ArrayType#ACTIVATION_GRAD} memory. {@code epsilon} is the gradient of
     * the output; it is not modified. Uses what the last {@link #forward} kept.
     */
    abstract INDArray backward(INDArray epsilon, Map<String, INDArray> params, Map<String, INDArray> gradients,
                               LayerWorkspaceMgr workspaces);

    /**
     * A buffer named {@code key} of this shape, kept across calls (reallocated when the shape or type
     * changes, for example for the last, smaller minibatch). Contents are whatever was written last.
     */
    protected final INDArray buffer(String key, DataType type, long... shape) {
        INDArray b = buffers.get(key);
        if (b == null || b.dataType() != type || !Arrays.equals(b.shape(), shape)) {
            try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                b = Nd4j.createUninitialized(type, shape, 'c');
            }
            buffers.put(key, b);
        }
        return b;
    }

    /** {@code ncw} {@code [mb, width, tokens]} copied into {@code rows} {@code [mb*tokens, width]} (row-major). */
    static INDArray toRows(INDArray ncw, INDArray rows) {
        INDArray src = contiguous(ncw);
        long mb = src.size(0);
        long width = src.size(1);
        long tokens = src.size(2);
        copy(src, 0, new long[]{mb, tokens, width}, new long[]{width * tokens, 1, tokens}, rows);
        return rows;
    }

    /** {@code rows} {@code [mb*tokens, width]} as a new {@code [mb, width, tokens]} array of type {@code type}. */
    static INDArray toNcw(INDArray rows, long tokens, LayerWorkspaceMgr workspaces, ArrayType type) {
        long width = rows.size(1);
        long mb = rows.size(0) / tokens;
        INDArray out = workspaces.createUninitialized(type, rows.dataType(), new long[]{mb, width, tokens}, 'c');
        copy(rows, 0, new long[]{mb, width, tokens}, new long[]{tokens * width, 1, width}, out);
        return out;
    }

    /** {@code a} itself if it is a plain row-major array of its own, else a row-major copy. */
    static INDArray contiguous(INDArray a) {
        boolean plain = !a.isView() && a.offset() == 0 && a.ordering() == 'c'
                && org.nd4j.linalg.api.shape.Shape.hasDefaultStridesForShape(a);
        return plain ? a : a.dup('c');
    }

    /**
     * Writes into {@code dst} (a plain row-major array of its own), in row-major order over {@code shape},
     * the elements of {@code src} (likewise plain) at {@code offset + sum(index[d] * strides[d])}: any
     * permutation or slice of {@code src}, in one pass. Done in Java over the arrays' memory because
     * ND4J 1.0.0-M2.1 copies permuted views through its generic indexed path (~50 ns per element,
     * measured: a third of a vit_small step).
     */
    static void copy(INDArray src, long offset, long[] shape, long[] strides, INDArray dst) {
        if (src.dataType() != dst.dataType() || dst.isView() || dst.offset() != 0 || src.isView() || src.offset() != 0) {
            throw new IllegalArgumentException("copy needs plain arrays of one type");
        }
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        if (n != dst.length()) {
            throw new IllegalArgumentException("copy of " + n + " elements into " + dst.length());
        }
        int rank = shape.length;
        long[] index = new long[rank];
        long last = shape[rank - 1];
        long lastStride = strides[rank - 1];
        RowCopy copyRow;
        if (src.dataType() == DataType.FLOAT) {
            java.nio.FloatBuffer in = src.data().asNioFloat();
            java.nio.FloatBuffer out = dst.data().asNioFloat();
            copyRow = (o, base) -> {
                for (long j = 0; j < last; j++) {
                    out.put((int) (o + j), in.get((int) (base + j * lastStride)));
                }
            };
        } else if (src.dataType() == DataType.DOUBLE) {
            java.nio.DoubleBuffer in = src.data().asNioDouble();
            java.nio.DoubleBuffer out = dst.data().asNioDouble();
            copyRow = (o, base) -> {
                for (long j = 0; j < last; j++) {
                    out.put((int) (o + j), in.get((int) (base + j * lastStride)));
                }
            };
        } else {
            throw new IllegalArgumentException("transformer layers compute in FLOAT or DOUBLE, not " + src.dataType());
        }
        for (long o = 0; o < n; o += last) {
            long base = offset;
            for (int d = 0; d < rank - 1; d++) {
                base += index[d] * strides[d];
            }
            copyRow.copy(o, base);
            advance(index, shape, rank - 2);
        }
    }

    /** Copies one innermost row: {@code last} elements from {@code base} (strided) to {@code o} (contiguous). */
    private interface RowCopy {
        void copy(long o, long base);
    }

    /** Row-major odometer over {@code shape[0..top]}. */
    private static void advance(long[] index, long[] shape, int top) {
        for (int d = top; d >= 0; d--) {
            if (++index[d] < shape[d]) {
                return;
            }
            index[d] = 0;
        }
    }

    /** A parameter vector as a {@code [1, n]} row, for row-wise broadcasting. */
    static INDArray row(INDArray vector) {
        return vector.reshape(1, vector.length());
    }

    /** {@code target} (a gradient view of any shape) gets {@code value}'s elements in row-major order. */
    static void store(INDArray target, INDArray value) {
        target.assign(value.reshape(target.shape()));
    }
}
