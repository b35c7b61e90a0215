package io.lockstep.worker.comm;

import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.BusySpinIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.SleepingIdleStrategy;
import org.agrona.concurrent.YieldingIdleStrategy;

/**
 * What a thread does while it waits for the network: trades latency against CPU taken from the
 * other threads of the machine (training compute, the media driver, other ranks).
 */
public enum IdleMode {
    /** Spins: lowest latency, burns a whole core while waiting. Only with cores to spare. */
    BUSY_SPIN,
    /** {@link Thread#yield()}: low latency, keeps a core busy when nothing else wants it. */
    YIELDING,
    /** Spins briefly, then yields, then parks for up to 100 µs: the balanced default. */
    BACKOFF,
    /** Parks 100 µs between checks: least CPU, adds up to 100 µs of latency per wait. */
    SLEEPING,
    /**
     * As {@link #BACKOFF}, but parks for up to 1 ms: Aeron's own default for its media driver. The media driver's
     * default: its threads idle whenever every peer is reached through shared memory (one JVM, {@code local[N]}),
     * and woken 10,000 times a second they took a fifth of a core from training on a 2-core machine.
     */
    LONG_BACKOFF;

    private static final long MIN_PARK_NS = 1_000;
    private static final long MAX_PARK_NS = 100_000;
    private static final long LONG_MAX_PARK_NS = 1_000_000;

    /** A new strategy instance; strategies keep per-thread state, so each thread needs its own. */
    public IdleStrategy newStrategy() {
        return switch (this) {
            case BUSY_SPIN -> new BusySpinIdleStrategy();
            case YIELDING -> new YieldingIdleStrategy();
            case BACKOFF -> new BackoffIdleStrategy(10, 20, MIN_PARK_NS, MAX_PARK_NS);
            case SLEEPING -> new SleepingIdleStrategy(MAX_PARK_NS);
            case LONG_BACKOFF -> new BackoffIdleStrategy(10, 20, MIN_PARK_NS, LONG_MAX_PARK_NS);
        };
    }
}
