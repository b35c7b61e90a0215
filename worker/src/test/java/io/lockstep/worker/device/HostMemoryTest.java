package io.lockstep.worker.device;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.nio.FloatBuffer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Host views start at an array's first element, also for a view into a larger buffer (as DL4J's flattened gradients are). */
class HostMemoryTest {
    @Test
    void aHostViewOfAnOffsetArrayReadsAndWritesExactlyItsElements() {
        INDArray whole = Nd4j.create(new float[]{0, 1, 2, 3, 4, 5, 6, 7}, new long[]{1, 8}, DataType.FLOAT);
        INDArray tail = whole.get(NDArrayIndex.point(0), NDArrayIndex.interval(3, 8));
        assertEquals(3, tail.offset());

        FloatBuffer view = HostMemory.floats(tail);
        float[] read = new float[5];
        view.get(read);
        assertArrayEquals(new float[]{3, 4, 5, 6, 7}, read);

        view.position(Math.toIntExact(tail.offset()));
        view.put(new float[]{-3, -4, -5, -6, -7});
        HostMemory.afterHostWrite(tail);
        assertArrayEquals(new float[]{0, 1, 2, -3, -4, -5, -6, -7}, whole.toFloatVector());
    }

    @Test
    void aHelperThreadCarriesTheReplicasDevice() throws InterruptedException {
        DeviceBinding binding = DeviceBinding.ofCurrentThread();
        int[] seen = new int[1];
        Thread helper = new Thread(() -> {
            binding.bindCurrentThread();
            seen[0] = Nd4j.getAffinityManager().getDeviceForCurrentThread();
        });
        helper.start();
        helper.join(10_000);
        assertEquals(binding.device(), seen[0]);
    }

    @Test
    void theCpuBuildRunsTheCpuBackend() {
        assertEquals(false, Backend.cudaBuilt());
        assertEquals(false, Backend.cudaLoaded());
        assertEquals("org.nd4j.linalg.cpu.nativecpu.CpuBackend", Backend.loadedName());
    }
}
