package io.lockstep.worker.comm;

import org.agrona.concurrent.UnsafeBuffer;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/**
 * Single-thread cost of {@link WireSecurity} per frame, for benchmarks: how fast one core seals frames,
 * and seals and opens them (what a ring rank does for every frame it forwards), with the bytes the JVM
 * allocates per frame. Not a collective; nothing is sent.
 *
 * @param mode                        the protection measured
 * @param implementation              the AES-GCM implementation measured
 * @param payloadBytes                payload per frame
 * @param sealMegabytesPerSecond      payload bytes sealed per second, in MB
 * @param roundTripMegabytesPerSecond payload bytes sealed and then opened per second, in MB
 * @param allocatedBytesPerFrame      bytes allocated per sealed and opened frame (-1 where the JVM cannot
 *                                    tell)
 */
public record SealProbe(WireSecurity mode, SealImplementation implementation, int payloadBytes,
                        double sealMegabytesPerSecond, double roundTripMegabytesPerSecond,
                        double allocatedBytesPerFrame) {

    /**
     * Measures {@code mode} sealed by {@code implementation} for at least {@code millis} per figure, after as
     * long a warm-up.
     */
    public static SealProbe measure(WireSecurity mode, SealImplementation implementation, int payloadBytes,
                                    long millis) {
        if (mode == WireSecurity.OFF) {
            throw new IllegalArgumentException("nothing to measure with wire security off");
        }
        Endpoint a = new Endpoint(0, "127.0.0.1", 1, "probe", 1);
        Endpoint b = new Endpoint(1, "127.0.0.1", 2, "probe", 2);
        byte[] key = FrameSeal.linkKey(JobSecret.random(), "probe", 0, mode, Wire.LINK_DATA, a, b);
        int frameLength = FrameHeader.LENGTH + payloadBytes;
        UnsafeBuffer frame = new UnsafeBuffer(ByteBuffer.allocateDirect(frameLength + FrameSeal.TAG_LENGTH));
        FrameHeader header = new FrameHeader().wrap(frame, 0);
        long nanos = TimeUnit.MILLISECONDS.toNanos(millis);
        FrameSeal.Sealer alone = new FrameSeal.Sealer(mode, key, frameLength, "probe", implementation);
        loop(alone, null, frame, header, frameLength, nanos);
        double seal = loop(alone, null, frame, header, frameLength, nanos)[0];
        // A sender and receiver pair: the receiver expects the sender's sequence from its start.
        FrameSeal.Sealer sealer = new FrameSeal.Sealer(mode, key, frameLength, "probe", implementation);
        FrameSeal.Opener opener = new FrameSeal.Opener(mode, key, frameLength, implementation);
        loop(sealer, opener, frame, header, frameLength, nanos);
        double[] roundTrip = loop(sealer, opener, frame, header, frameLength, nanos);
        return new SealProbe(mode, implementation, payloadBytes, seal * payloadBytes / 1e6, roundTrip[0] * payloadBytes / 1e6,
                roundTrip[1]);
    }

    /** @return frames per second and bytes allocated per frame */
    private static double[] loop(FrameSeal.Sealer sealer, FrameSeal.Opener opener, UnsafeBuffer frame,
                                 FrameHeader header, int frameLength, long nanos) {
        java.lang.management.ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        com.sun.management.ThreadMXBean counting = threads instanceof com.sun.management.ThreadMXBean c ? c : null;
        long allocatedBefore = counting == null ? 0 : counting.getCurrentThreadAllocatedBytes();
        long start = System.nanoTime();
        long frames = 0;
        long now;
        do {
            for (int i = 0; i < 16; i++) {
                header.writeIdentity(FrameHeader.TYPE_DATA, Wire.OP_STREAM, Wire.ENCODING_BYTES, 0, 0, 1, 0, frames, 0);
                int sealed = sealer.seal(frame, 0, frameLength);
                if (opener != null) {
                    if (opener.open(frame, 0, sealed) != null) {
                        throw new IllegalStateException("a frame sealed by the probe did not open");
                    }
                    opener.consume();
                }
                frames++;
            }
            now = System.nanoTime();
        } while (now - start < nanos);
        long allocated = counting == null ? -1 : counting.getCurrentThreadAllocatedBytes() - allocatedBefore;
        return new double[]{frames / ((now - start) / 1e9), allocated < 0 ? -1 : (double) allocated / frames};
    }
}
