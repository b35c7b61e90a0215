package io.lockstep.worker.comm;

import java.util.Arrays;

/**
 * What this rank knows about each peer from its control frames: the latest operation it entered, how
 * far it got (arrived, waiting, done), what it was waiting for and when it was last heard from. Feeds
 * the barrier, the cross-rank consistency checks and the timeout report.
 *
 * <p>Times come from the collective's injected clock. Owned by the rank's thread.
 */
final class PeerTracker {
    private static final long NEVER = Long.MIN_VALUE;

    private final int size;
    private final long[] opSeq;
    private final byte[] phase;
    private final byte[] opType;
    private final int[] opLength;
    private final int[] root;
    private final int[] waitingFor;
    private final long[] lastHeardNs;

    PeerTracker(int size) {
        this.size = size;
        opSeq = new long[size];
        phase = new byte[size];
        opType = new byte[size];
        opLength = new int[size];
        root = new int[size];
        waitingFor = new int[size];
        lastHeardNs = new long[size];
        Arrays.fill(lastHeardNs, NEVER);
        Arrays.fill(waitingFor, Wire.NO_RANK);
    }

    /** Records a control frame; frames of a link arrive in order, so the latest one wins. */
    void update(int rank, long seq, byte newPhase, byte newOpType, int newOpLength, int newRoot, int newWaitingFor,
                long nowNs) {
        lastHeardNs[rank] = nowNs;
        if (seq < opSeq[rank]) {
            return;
        }
        opSeq[rank] = seq;
        phase[rank] = newPhase;
        opType[rank] = newOpType;
        opLength[rank] = newOpLength;
        root[rank] = newRoot;
        waitingFor[rank] = newWaitingFor;
    }

    /** The peer entered operation {@code seq} (or a later one). */
    boolean arrived(int rank, long seq) {
        return opSeq[rank] >= seq;
    }

    /** The peer gave up on operation {@code seq} or an earlier one (and so is out of the group). */
    boolean abortedAtOrBefore(int rank, long seq) {
        return opSeq[rank] <= seq && phase[rank] == Wire.PHASE_ABORTED;
    }

    /** The peer finished operation {@code seq}: it entered a later one or said it is done. */
    boolean done(int rank, long seq) {
        return opSeq[rank] > seq || opSeq[rank] == seq && phase[rank] == Wire.PHASE_DONE;
    }

    long opSeq(int rank) {
        return opSeq[rank];
    }

    byte opType(int rank) {
        return opType[rank];
    }

    int opLength(int rank) {
        return opLength[rank];
    }

    int root(int rank) {
        return root[rank];
    }

    int waitingFor(int rank) {
        return waitingFor[rank];
    }

    boolean everHeard(int rank) {
        return lastHeardNs[rank] != NEVER;
    }

    /** Nanoseconds since the peer was last heard from; {@link Long#MAX_VALUE} if never. */
    long silenceNs(int rank, long nowNs) {
        return lastHeardNs[rank] == NEVER ? Long.MAX_VALUE : nowNs - lastHeardNs[rank];
    }

    int size() {
        return size;
    }

    /** A human-readable state of one peer for reports. */
    String describe(int rank, long nowNs) {
        if (lastHeardNs[rank] == NEVER) {
            return "rank " + rank + ": never heard from";
        }
        String state = switch (phase[rank]) {
            case Wire.PHASE_ARRIVED -> "entered";
            case Wire.PHASE_WAITING -> "inside";
            case Wire.PHASE_DONE -> "finished";
            case Wire.PHASE_ABORTED -> "gave up on";
            default -> "phase " + phase[rank] + " of";
        };
        StringBuilder text = new StringBuilder()
                .append("rank ").append(rank).append(": ").append(state).append(' ')
                .append(Wire.opName(opType[rank])).append(" #").append(opSeq[rank]);
        if (phase[rank] == Wire.PHASE_ABORTED && waitingFor[rank] != Wire.NO_RANK) {
            text.append(", blaming rank ").append(waitingFor[rank]);
        } else if (phase[rank] != Wire.PHASE_DONE && waitingFor[rank] != Wire.NO_RANK) {
            text.append(", waiting for rank ").append(waitingFor[rank]);
        }
        return text.append(", heard ").append((nowNs - lastHeardNs[rank]) / 1_000_000).append(" ms ago").toString();
    }
}
