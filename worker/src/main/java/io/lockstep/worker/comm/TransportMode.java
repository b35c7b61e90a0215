package io.lockstep.worker.comm;

/** Which Aeron media carries traffic between two ranks. */
public enum TransportMode {
    /** IPC (shared memory) between ranks of the same media driver, UDP to every other rank. */
    AUTO,
    /**
     * UDP between all ranks, even those sharing a media driver. For benchmarks and tests of the
     * network path inside one JVM; slower than {@link #AUTO} for co-located ranks.
     */
    UDP
}
