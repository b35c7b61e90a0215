package io.lockstep.worker.comm;

/** Mutable traffic counters of one rank; written only by the rank's owning thread. */
final class TrafficCounters {
    long framesSent;
    long bytesSent;
    long framesReceived;
    long bytesReceived;
    long rejectedFrames;
    long unauthenticFrames;
    long forwardedFrames;
    long backPressureEvents;
    long operations;
    long operationNanos;

    CollectiveStats snapshot() {
        return new CollectiveStats(operations, operationNanos, bytesSent, bytesReceived, framesSent, framesReceived,
                rejectedFrames, backPressureEvents, unauthenticFrames, forwardedFrames);
    }
}
