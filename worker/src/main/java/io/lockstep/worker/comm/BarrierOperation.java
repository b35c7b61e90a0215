package io.lockstep.worker.comm;

import org.agrona.DirectBuffer;

/** Barrier: no data; complete once every peer has announced that it entered this operation. */
final class BarrierOperation extends RingOperation {
    BarrierOperation(OpIdentity identity, int ringSize) {
        super(identity, ringSize, 0, 8);
    }

    @Override
    byte opType() {
        return Wire.OP_BARRIER;
    }

    @Override
    byte encoding() {
        return Wire.ENCODING_NONE;
    }

    @Override
    boolean sendsDone() {
        return true;
    }

    @Override
    boolean receivesDone() {
        return true;
    }

    @Override
    boolean complete(PeerTracker peers, long opSeq) {
        for (int rank = 0; rank < peers.size(); rank++) {
            if (rank != identity.rank && !peers.arrived(rank, opSeq)) {
                return false;
            }
        }
        return true;
    }

    @Override
    int sendSome(LinkSender sender, int maxFrames) {
        return 0;
    }

    @Override
    String onData(FrameHeader header, DirectBuffer buffer, int payloadOffset, int payloadLength) {
        return "rank " + header.sender() + " sent data during a barrier";
    }

    @Override
    String progress() {
        return "waiting for every rank to enter the barrier";
    }
}
