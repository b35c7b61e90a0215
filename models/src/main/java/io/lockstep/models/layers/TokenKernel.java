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
        long mb = ncw.size(0);
        rows.reshape(mb, ncw.size(2), ncw.size(1)).assign(ncw.permute(0, 2, 1));
        return rows;
    }

    /** {@code rows} {@code [mb*tokens, width]} as a new {@code [mb, width, tokens]} array of type {@code type}. */
    static INDArray toNcw(INDArray rows, long tokens, LayerWorkspaceMgr workspaces, ArrayType type) {
        long width = rows.size(1);
        long mb = rows.size(0) / tokens;
        INDArray out = workspaces.createUninitialized(type, rows.dataType(), new long[]{mb, width, tokens}, 'c');
        out.assign(rows.reshape(mb, tokens, width).permute(0, 2, 1));
        return out;
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
