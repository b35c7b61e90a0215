package io.lockstep.worker.comm;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * Pipelined ring broadcast: the root sends its buffer chunk by chunk to its successor, every other
 * rank forwards each chunk as soon as it has it, and the root's predecessor only receives. Takes
 * N − 1 hops of latency plus the buffer's transfer time, whatever N.
 *
 * <p>Floats ({@code length} agreed by all ranks) or bytes (length learnt from the first frame). The
 * byte result array is allocated once per operation.
 */
final class RingBroadcast extends RingOperation {
    private boolean floats;
    private int rootRank;
    private boolean sends;
    private boolean receives;
    // floats
    private Object base;
    private long address;
    private int floatLength;
    // bytes
    private byte[] bytes;
    private int totalChunks;
    private int sendChunk;
    private int recvChunk;

    RingBroadcast(OpIdentity identity, int ringSize, int position, int chunkBytes) {
        super(identity, ringSize, position, chunkBytes);
    }

    void prepareFloats(Object base, long address, int length, int rootRank, int rootPosition) {
        this.floats = true;
        this.base = base;
        this.address = address;
        this.floatLength = length;
        this.bytes = null;
        this.totalChunks = (int) (((long) length * Float.BYTES + chunkBytes - 1) / chunkBytes);
        start(rootRank, rootPosition);
    }

    void prepareBytes(byte[] rootData, int rootRank, int rootPosition) {
        this.floats = false;
        this.base = null;
        this.bytes = rootData;
        this.totalChunks = rootData == null ? -1 : chunks(rootData.length);
        start(rootRank, rootPosition);
    }

    private void start(int rootRank, int rootPosition) {
        this.rootRank = rootRank;
        int distance = floorMod(position - rootPosition, ringSize);
        sends = ringSize > 1 && distance < ringSize - 1;
        receives = distance > 0;
        sendChunk = 0;
        recvChunk = 0;
    }

    /** The bytes broadcast (root: its own array); the operation lets go of them. */
    byte[] takeBytes() {
        byte[] result = bytes;
        bytes = null;
        return result;
    }

    void release() {
        base = null;
        bytes = null;
    }

    private int chunks(int byteLength) {
        return byteLength == 0 ? 1 : (int) (((long) byteLength + chunkBytes - 1) / chunkBytes);
    }

    @Override
    byte opType() {
        return floats ? Wire.OP_BROADCAST_FLOATS : Wire.OP_BROADCAST_BYTES;
    }

    @Override
    byte encoding() {
        return floats ? Wire.ENCODING_F32 : Wire.ENCODING_BYTES;
    }

    @Override
    int agreedLength() {
        return floats ? floatLength : -1;
    }

    @Override
    int agreedRoot() {
        return rootRank;
    }

    @Override
    boolean sendsDone() {
        return !sends || totalChunks >= 0 && sendChunk >= totalChunks;
    }

    @Override
    boolean receivesDone() {
        return !receives || totalChunks >= 0 && recvChunk >= totalChunks;
    }

    private int totalLength() {
        return floats ? floatLength * Float.BYTES : bytes.length;
    }

    @Override
    int sendSome(LinkSender sender, int maxFrames) {
        int sent = 0;
        while (sent < maxFrames && sends && totalChunks >= 0 && sendChunk < totalChunks) {
            if (receives && recvChunk <= sendChunk) {
                break;
            }
            int total = totalLength();
            int first = sendChunk * chunkBytes;
            int count = Math.min(chunkBytes, total - first);
            int frameLength = FrameHeader.LENGTH + count;
            if (!sender.begin(frameLength)) {
                break;
            }
            MutableDirectBuffer frame = sender.buffer();
            int frameOffset = sender.offset();
            identity.stamp(tx.wrap(frame, frameOffset), FrameHeader.TYPE_DATA, opType(), encoding())
                    .writeData(0, sendChunk, first, floats ? floatLength : total, count);
            long target = frame.addressOffset() + frameOffset + FrameHeader.LENGTH;
            if (floats) {
                ElementLoops.copyBytes(base, address + first, frame.byteArray(), target, count);
            } else {
                frame.putBytes(frameOffset + FrameHeader.LENGTH, bytes, first, count);
            }
            sender.commit(frameLength);
            sent++;
            sendChunk++;
        }
        return sent;
    }

    @Override
    String onData(FrameHeader header, DirectBuffer buffer, int payloadOffset, int payloadLength) {
        if (!receives || totalChunks >= 0 && recvChunk >= totalChunks) {
            return "rank " + header.sender() + " sent more broadcast chunks than expected";
        }
        if (floats) {
            if (header.opLength() != floatLength) {
                return "rank " + header.sender() + " broadcasts " + header.opLength() + " floats where this rank expects "
                        + floatLength + ": every rank must pass the same length";
            }
        } else if (recvChunk == 0) {
            int length = header.opLength();
            if (length < 0 || length > RingAllGather.MAX_BLOCK_BYTES) {
                return "rank " + header.sender() + " announced a broadcast of " + length + " bytes";
            }
            bytes = new byte[length];
            totalChunks = chunks(length);
        } else if (header.opLength() != bytes.length) {
            return "rank " + header.sender() + " changed the broadcast length mid-way";
        }
        int total = totalLength();
        int first = recvChunk * chunkBytes;
        int count = Math.min(chunkBytes, total - first);
        if (header.chunk() != recvChunk || header.elementOffset() != first || header.count() != count
                || payloadLength != count) {
            return "rank " + header.sender() + " sent broadcast chunk " + header.chunk() + " where this rank expected "
                    + recvChunk + ": every rank must use the same chunkBytes";
        }
        if (floats) {
            ElementLoops.copyBytes(buffer.byteArray(), buffer.addressOffset() + payloadOffset, base, address + first,
                    count);
        } else {
            buffer.getBytes(payloadOffset, bytes, first, count);
        }
        recvChunk++;
        return null;
    }

    @Override
    String progress() {
        String total = totalChunks < 0 ? "?" : Integer.toString(totalChunks);
        return "received " + recvChunk + "/" + total + " chunks, forwarded " + sendChunk + "/" + total;
    }
}
