package io.lockstep.worker.comm;

import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The ring streaming probe: selected ranks push raw bytes to their successor as fast as the link
 * takes them, with no reduction and no dependency between sending and receiving. Frames have the
 * size and header of all-reduce frames, so the rate it measures is the limit the ring all-reduce can
 * approach on the same links. A benchmark tool, not a collective.
 */
final class RingStream extends RingOperation {
    private final int[] ringOrder;
    private final UnsafeBuffer source;
    private boolean sends;
    private boolean receives;
    private long bytesPerLink;
    private long framesPerLink;
    private long sentFrames;
    private long receivedFrames;

    RingStream(OpIdentity identity, int[] ringOrder, int position, int chunkBytes) {
        super(identity, ringOrder.length, position, chunkBytes);
        this.ringOrder = ringOrder;
        this.source = new UnsafeBuffer(BufferUtil.allocateDirectAligned(chunkBytes, 64));
        for (int i = 0; i < chunkBytes; i++) {
            source.putByte(i, (byte) i);
        }
    }

    /** Ranks at ring positions below {@code sendingPositions} send; the others only receive. */
    void prepare(long bytesPerLink, int sendingPositions) {
        this.bytesPerLink = bytesPerLink;
        this.framesPerLink = (bytesPerLink + chunkBytes - 1) / chunkBytes;
        int predecessorPosition = floorMod(position - 1, ringSize);
        this.sends = ringSize > 1 && position < sendingPositions;
        this.receives = ringSize > 1 && predecessorPosition < sendingPositions;
        this.sentFrames = 0;
        this.receivedFrames = 0;
    }

    @Override
    byte opType() {
        return Wire.OP_STREAM;
    }

    @Override
    byte encoding() {
        return Wire.ENCODING_BYTES;
    }

    @Override
    boolean sendsDone() {
        return !sends || sentFrames >= framesPerLink;
    }

    @Override
    boolean receivesDone() {
        return !receives || receivedFrames >= framesPerLink;
    }

    @Override
    int sendSome(LinkSender sender, int maxFrames) {
        int sent = 0;
        while (sent < maxFrames && sends && sentFrames < framesPerLink) {
            int count = (int) Math.min(chunkBytes, bytesPerLink - sentFrames * chunkBytes);
            int frameLength = FrameHeader.LENGTH + count;
            if (!sender.begin(frameLength)) {
                break;
            }
            MutableDirectBuffer frame = sender.buffer();
            int frameOffset = sender.offset();
            identity.stamp(tx.wrap(frame, frameOffset), FrameHeader.TYPE_DATA, Wire.OP_STREAM, Wire.ENCODING_BYTES)
                    .writeData(0, (int) sentFrames, 0, 0, count);
            frame.putBytes(frameOffset + FrameHeader.LENGTH, source, 0, count);
            sender.commit(frameLength);
            sentFrames++;
            sent++;
        }
        return sent;
    }

    @Override
    String onData(FrameHeader header, DirectBuffer buffer, int payloadOffset, int payloadLength) {
        if (!receives || receivedFrames >= framesPerLink) {
            return "rank " + header.sender() + " streamed more frames than expected";
        }
        receivedFrames++;
        return null;
    }

    @Override
    String progress() {
        return "streamed " + sentFrames + "/" + (sends ? framesPerLink : 0) + " frames, received " + receivedFrames + "/"
                + (receives ? framesPerLink : 0) + " from rank " + ringOrder[floorMod(position - 1, ringSize)];
    }
}
