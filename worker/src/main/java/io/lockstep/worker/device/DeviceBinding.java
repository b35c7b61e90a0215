package io.lockstep.worker.device;

import org.nd4j.linalg.factory.Nd4j;

/**
 * Which device ND4J runs a thread's work on. ND4J binds devices per thread: a thread that touches
 * ND4J arrays without being bound uses device 0, so every thread of a replica (the training thread
 * and its prefetch thread) must carry the replica's binding. On the CPU backend binding does nothing.
 */
public final class DeviceBinding {
    private final Integer device;

    private DeviceBinding(Integer device) {
        this.device = device;
    }

    /** The binding of the calling thread, to carry to a helper thread. */
    public static DeviceBinding ofCurrentThread() {
        return new DeviceBinding(Nd4j.getAffinityManager().getDeviceForCurrentThread());
    }

    /** Binds the calling thread to this binding's device. */
    public void bindCurrentThread() {
        Nd4j.getAffinityManager().unsafeSetDevice(device);
    }

    public int device() {
        return device;
    }
}
