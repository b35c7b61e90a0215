package io.lockstep.worker.comm;

import org.agrona.DirectBuffer;

/**
 * One collective operation's state machine on the ring: which frames to send to the successor, in
 * what order and when they may go (pipelining), and what to do with each frame from the predecessor.
 * The collective's event loop drives it: {@link #sendSome} when the link has room, {@link #onData} for
 * each accepted frame. Instances are reused across operations (prepared anew each time) so that the
 * hot path allocates nothing; owned by the rank's thread.
 */
abstract class RingOperation {
    final OpIdentity identity;
    final int ringSize;
    final int position;
    final int chunkBytes;
    final FrameHeader tx = new FrameHeader();

    RingOperation(OpIdentity identity, int ringSize, int position, int chunkBytes) {
        this.identity = identity;
        this.ringSize = ringSize;
        this.position = position;
        this.chunkBytes = chunkBytes;
    }

    abstract byte opType();

    abstract byte encoding();

    /** Length every rank must pass (elements), or -1 when ranks legitimately differ or cannot know it. */
    int agreedLength() {
        return -1;
    }

    /** Root rank every rank must name, or {@link Wire#NO_RANK}. */
    int agreedRoot() {
        return Wire.NO_RANK;
    }

    /**
     * True when frames may come forwarded from further up the ring under their originator's seal
     * ({@link FrameSeal.ForwardedOpener}); {@link #onData} then checks each one's sender.
     */
    boolean acceptsForwardedFrames() {
        return false;
    }

    abstract boolean sendsDone();

    abstract boolean receivesDone();

    /** True when this rank's part is over (sends handed to Aeron, receives consumed). */
    boolean complete(PeerTracker peers, long opSeq) {
        return sendsDone() && receivesDone();
    }

    /** Sends up to {@code maxFrames} frames that are ready; returns how many went. */
    abstract int sendSome(LinkSender sender, int maxFrames);

    /**
     * Consumes one accepted frame of this operation from the predecessor.
     *
     * @return null, or why the frame does not fit this operation (the collective fails with it)
     */
    abstract String onData(FrameHeader header, DirectBuffer buffer, int payloadOffset, int payloadLength);

    /**
     * Progress that needs no link (shared memory): called on every turn of the event loop until the operation
     * is complete.
     *
     * @return work done, 0 while waiting
     */
    int advance() {
        return 0;
    }

    /** The peer this rank waits for outside the ring links, or {@link Wire#NO_RANK}. */
    int awaitedPeer() {
        return Wire.NO_RANK;
    }

    /** Null, or why the operation cannot finish, found by {@link #advance()} (the collective fails with it). */
    String failure() {
        return null;
    }

    /** The peer {@link #failure()} blames, or {@link Wire#NO_RANK}. */
    int failurePeer() {
        return Wire.NO_RANK;
    }

    /** Where the operation stands, for timeout reports. */
    abstract String progress();

    static int floorMod(int value, int modulus) {
        int result = value % modulus;
        return result < 0 ? result + modulus : result;
    }

    /** True when frame (step, chunk) from the predecessor has been consumed, given the receive cursor. */
    static boolean received(int recvStep, int recvChunk, int step, int chunk) {
        return recvStep > step || recvStep == step && recvChunk > chunk;
    }
}
