package io.lockstep.worker.exchange;

import io.lockstep.worker.device.HostMemory;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.FloatBuffer;

/**
 * Bulk copies between one contiguous FLOAT vector of a model (its flattened parameters, gradient or
 * updater state) and a heap {@code float[]}.
 *
 * <p>Reads make the host copy current first and writes mark it newest ({@link HostMemory}), so the
 * copies are right on a GPU too. The NIO view of the native memory is created once and reused while the array's memory stays the
 * same (DL4J hands out fresh {@code INDArray} wrappers, e.g. {@code graph.params()} reshapes on every
 * call, but they point at the same memory), so a steady-state copy allocates nothing. One instance per
 * array per training thread; not thread-safe.
 */
final class FlatFloats {
    private final String what;
    private long cachedAddress = -1;
    private long cachedOffset = -1;
    private int cachedLength = -1;
    private FloatBuffer cachedView;
    private int cachedBase;

    /** @param what names the array in error messages, e.g. "gradient" */
    FlatFloats(String what) {
        this.what = what;
    }

    /** Number of elements of {@code array}, checked to be a contiguous FLOAT vector. */
    int length(INDArray array) {
        if (array.dataType() != DataType.FLOAT) {
            throw new IllegalStateException(what + " has data type " + array.dataType()
                    + " but the exchange strategies need FLOAT; build the network with data type FLOAT");
        }
        long length = array.length();
        if (length > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException(what + " has " + length + " elements, more than a Java array holds");
        }
        if (length > 1 && array.elementWiseStride() != 1) {
            throw new IllegalStateException(what + " is not a contiguous vector (element-wise stride "
                    + array.elementWiseStride() + "); the exchange needs DL4J's flattened view");
        }
        return (int) length;
    }

    /** Copies all of {@code source} into {@code target[targetOffset, targetOffset + length)}. */
    void copyOut(INDArray source, float[] target, int targetOffset) {
        int length = length(source);
        if (length == 0) {
            return;
        }
        HostMemory.beforeHostRead(source);
        FloatBuffer view = view(source, length);
        view.get(cachedBase, target, targetOffset, length);
    }

    /** Overwrites all of {@code target} with {@code source[sourceOffset, sourceOffset + length)}. */
    void copyIn(float[] source, int sourceOffset, INDArray target) {
        int length = length(target);
        if (length == 0) {
            return;
        }
        FloatBuffer view = view(target, length);
        view.put(cachedBase, source, sourceOffset, length);
        HostMemory.afterHostWrite(target);
    }

    private FloatBuffer view(INDArray array, int length) {
        long address = array.data().address();
        long offset = array.offset();
        if (cachedView == null || address != cachedAddress || offset != cachedOffset || length != cachedLength) {
            FloatBuffer view = array.data().asNioFloat();
            // ND4J positions the buffer at the view's first element (or slices it there): take that as base.
            int base = view.position();
            if (base + length > view.limit()) {
                throw new IllegalStateException(what + ": native view of " + view.limit() + " floats from "
                        + base + " cannot hold " + length + " elements; ND4J buffer layout not understood");
            }
            cachedView = view;
            cachedBase = base;
            cachedAddress = address;
            cachedOffset = offset;
            cachedLength = length;
        }
        return cachedView;
    }
}
