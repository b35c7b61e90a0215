package io.lockstep.worker.comm;

/**
 * Counters of one rank's collective since it was opened: a snapshot, immutable.
 *
 * @param operations         completed operations
 * @param operationNanos     wall time spent inside operations (including waiting for peers)
 * @param bytesSent          bytes of Lockstep frames (headers included) this rank published
 * @param bytesReceived      bytes of Lockstep frames this rank consumed (rejected frames excluded)
 * @param framesSent         frames published, data and control
 * @param framesReceived     frames consumed and accepted
 * @param rejectedFrames     frames dropped because they belonged to another job or stage attempt, or
 *                           were malformed; never mixed into results
 * @param backPressureEvents times a publication was momentarily full (the peer or network is slower)
 * @param unauthenticFrames  frames refused by {@link WireSecurity} (tag that does not verify: forged,
 *                           altered, or sealed under another key; out of sequence: replayed, reordered;
 *                           or a forwarded frame out of place); included in {@code rejectedFrames}
 * @param forwardedFrames    frames sent on unchanged, under the seal of the rank that originated them (the
 *                           all-gather half of an all-reduce under {@link WireSecurity#AUTHENTICATE});
 *                           included in {@code framesSent}
 */
public record CollectiveStats(long operations, long operationNanos, long bytesSent, long bytesReceived,
                              long framesSent, long framesReceived, long rejectedFrames, long backPressureEvents,
                              long unauthenticFrames, long forwardedFrames) {
    /** No traffic, for implementations that do not count. */
    public static final CollectiveStats NONE = new CollectiveStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    /** Counters accumulated between {@code earlier} and this snapshot. */
    public CollectiveStats minus(CollectiveStats earlier) {
        return new CollectiveStats(operations - earlier.operations, operationNanos - earlier.operationNanos,
                bytesSent - earlier.bytesSent, bytesReceived - earlier.bytesReceived, framesSent - earlier.framesSent,
                framesReceived - earlier.framesReceived, rejectedFrames - earlier.rejectedFrames,
                backPressureEvents - earlier.backPressureEvents,
                unauthenticFrames - earlier.unauthenticFrames, forwardedFrames - earlier.forwardedFrames);
    }
}
