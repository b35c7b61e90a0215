package io.lockstep.models.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.FloatBuffer;

/**
 * The host memory of float arrays on ND4J's CPU backend, for the layers whose kernels are plain Java
 * loops (max pooling, the worker's BatchNorm). Those loops read and write the array's buffer directly,
 * which is only its elements when the array is dense: what {@link #readable} and {@link #writable}
 * check. On any other backend the memory is a device's: callers test {@link #cpuBackend()} first and
 * fall back to ND4J's ops.
 */
public final class HostFloats {
    private static final boolean CPU_BACKEND = "CpuBackend".equals(Nd4j.getBackend().getClass().getSimpleName());

    private HostFloats() {
    }

    /** Whether ND4J runs its CPU backend in this JVM (array buffers are host memory). */
    public static boolean cpuBackend() {
        return CPU_BACKEND;
    }

    /**
     * Whether Java loops over host memory can take {@code arrays}: ND4J's CPU backend, float elements, and
     * no more of them than an {@code int} indexes. Denseness is {@link #readable}'s and {@link #writable}'s
     * business.
     */
    public static boolean fits(INDArray... arrays) {
        if (!CPU_BACKEND) {
            return false;
        }
        for (INDArray array : arrays) {
            if (array.dataType() != DataType.FLOAT || array.length() > Integer.MAX_VALUE) {
                return false;
            }
        }
        return true;
    }

    /**
     * The host memory of {@code array} as a buffer whose index 0 is its first element; a dense copy when
     * the array cannot be read in place ({@link #isDense}), so only for reading.
     */
    public static FloatBuffer readable(INDArray array) {
        return buffer(isDense(array) ? array : array.dup('c'));
    }

    /**
     * The host memory of {@code array}, for kernels to write into: never a copy, so the array must be
     * one the caller created dense (a copy would silently leave the array itself unwritten).
     */
    public static FloatBuffer writable(INDArray array) {
        if (!isDense(array)) {
            throw new IllegalStateException("kernels write only into dense C-order arrays that are not views, got "
                    + array.shapeInfoToString().replace('\n', ' '));
        }
        return buffer(array);
    }

    /**
     * Whether {@code array}'s elements are its buffer's, from index 0, densely in C order. Axes of size 1
     * may carry any stride (ND4J gives them various ones, e.g. a 1x1 feature map's H and W): comparing
     * whole stride vectors with the default ones would call such an array a non-dense one.
     */
    public static boolean isDense(INDArray array) {
        if (array.isView() || array.offset() != 0) {
            return false;
        }
        long expected = 1;
        for (int d = array.rank() - 1; d >= 0; d--) {
            long size = array.size(d);
            if (size != 1 && array.stride(d) != expected) {
                return false;
            }
            expected *= size;
        }
        return true;
    }

    private static FloatBuffer buffer(INDArray dense) {
        FloatBuffer buffer = dense.data().asNioFloat();
        return buffer.position() == 0 ? buffer : buffer.slice();
    }
}
