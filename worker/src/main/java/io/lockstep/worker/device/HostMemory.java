package io.lockstep.worker.device;

import org.deeplearning4j.nn.api.Updater;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;

/**
 * The one place where a replica's arrays cross between the compute device and host memory.
 *
 * <p>Lockstep reads and writes parameters, gradients and optimizer state through NIO views of ND4J's
 * buffers (the exchange, the parameter checksum, batch building) and serializes them (checkpoints).
 * On the CPU backend those views are the array itself. On the CUDA backend an array lives on the GPU
 * with a host mirror that is only current after a device-to-host copy, and a write through the host
 * view reaches the GPU only if the host copy is marked newest. ND4J's affinity manager does both;
 * every host read or write of replica memory goes through this class, so none can forget it. On the
 * CPU backend both calls do nothing.
 */
public final class HostMemory {
    private HostMemory() {
    }

    /** Makes the host copy of {@code array} current (a device-to-host copy if the device wrote last). */
    public static void beforeHostRead(INDArray array) {
        Nd4j.getAffinityManager().ensureLocation(array, AffinityManager.Location.HOST);
    }

    /** Marks the host copy of {@code array} as the newest, so the next device use uploads what was written. */
    public static void afterHostWrite(INDArray array) {
        Nd4j.getAffinityManager().tagLocation(array, AffinityManager.Location.HOST);
    }

    /** Parameters and optimizer state of {@code graph}, made current on the host (before serializing them). */
    public static void beforeHostRead(ComputationGraph graph) {
        beforeHostRead(graph.params());
        Updater updater = graph.getUpdater(false);
        if (updater instanceof org.deeplearning4j.nn.updater.BaseMultiLayerUpdater<?> multi && multi.getStateViewArray() != null) {
            beforeHostRead(multi.getStateViewArray());
        }
    }

    /**
     * A host view of a FLOAT array's buffer, current for reading, positioned at the array's first
     * element. Writes through it must be followed by {@link #afterHostWrite(INDArray)}.
     */
    public static FloatBuffer floats(INDArray array) {
        beforeHostRead(array);
        FloatBuffer view = array.data().asNioFloat();
        view.position(Math.toIntExact(array.offset()));
        return view;
    }

    /** The raw bytes of {@code array}'s whole buffer, current on the host, for reading. */
    public static ByteBuffer bytes(INDArray array) {
        beforeHostRead(array);
        return array.data().asNio();
    }
}
