package io.lockstep.worker.comm;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * Flyweight over the 72-byte header that starts every Lockstep frame, data and control alike.
 * Native byte order, which the collective requires to be little-endian.
 *
 * <pre>
 *  0 int  magic (format and version)      36 .. see below
 *  4 byte frame type (data / control)
 *  5 byte operation type
 *  6 byte encoding of the payload
 *  7 byte phase (control frames)
 *  8 int  sender rank (of a forwarded frame: the rank that sealed it)
 * 12 int  epoch
 * 16 long job id hash
 * 24 long stage attempt
 * 32 long operation sequence number (the same on every rank)
 * 40 long step
 * 48 int  ring step (data) | rank waited for (control)
 * 52 int  chunk index (data) | root rank (control)
 * 56 int  offset of this chunk in its segment or block, in elements or bytes
 * 60 int  operation length (elements; block length for all-gather)
 * 64 int  elements in this frame
 * 68 int  link sequence number (sealed links, of the link the frame was sealed on; 0 otherwise)
 * </pre>
 *
 * Under {@link WireSecurity#AUTHENTICATE} and {@link WireSecurity#ENCRYPT} a 16-byte tag follows the
 * payload ({@link FrameSeal}).
 *
 * Not thread-safe: each thread wraps its own instance.
 */
final class FrameHeader {
    static final int LENGTH = 72;
    static final int MAGIC = 0x4C4B5302;

    static final byte TYPE_DATA = 1;
    static final byte TYPE_CONTROL = 2;

    private static final int MAGIC_OFFSET = 0;
    private static final int FRAME_TYPE_OFFSET = 4;
    private static final int OP_TYPE_OFFSET = 5;
    private static final int ENCODING_OFFSET = 6;
    private static final int PHASE_OFFSET = 7;
    private static final int SENDER_OFFSET = 8;
    private static final int EPOCH_OFFSET = 12;
    private static final int JOB_OFFSET = 16;
    private static final int ATTEMPT_OFFSET = 24;
    private static final int OP_SEQ_OFFSET = 32;
    private static final int STEP_OFFSET = 40;
    private static final int RING_STEP_OFFSET = 48;
    private static final int CHUNK_OFFSET = 52;
    private static final int ELEMENT_OFFSET_OFFSET = 56;
    private static final int OP_LENGTH_OFFSET = 60;
    private static final int COUNT_OFFSET = 64;
    private static final int LINK_SEQUENCE_OFFSET = 68;

    private DirectBuffer buffer;
    private MutableDirectBuffer mutable;
    private int offset;

    FrameHeader wrap(DirectBuffer buffer, int offset) {
        this.buffer = buffer;
        this.mutable = null;
        this.offset = offset;
        return this;
    }

    FrameHeader wrap(MutableDirectBuffer buffer, int offset) {
        this.buffer = buffer;
        this.mutable = buffer;
        this.offset = offset;
        return this;
    }

    /** Writes the identity part of the header; the caller fills the frame-specific fields. */
    FrameHeader writeIdentity(byte frameType, byte opType, byte encoding, int sender, int epoch, long jobHash,
                              long stageAttempt, long opSeq, long step) {
        mutable.putInt(offset + MAGIC_OFFSET, MAGIC);
        mutable.putByte(offset + FRAME_TYPE_OFFSET, frameType);
        mutable.putByte(offset + OP_TYPE_OFFSET, opType);
        mutable.putByte(offset + ENCODING_OFFSET, encoding);
        mutable.putByte(offset + PHASE_OFFSET, (byte) 0);
        mutable.putInt(offset + SENDER_OFFSET, sender);
        mutable.putInt(offset + EPOCH_OFFSET, epoch);
        mutable.putLong(offset + JOB_OFFSET, jobHash);
        mutable.putLong(offset + ATTEMPT_OFFSET, stageAttempt);
        mutable.putLong(offset + OP_SEQ_OFFSET, opSeq);
        mutable.putLong(offset + STEP_OFFSET, step);
        mutable.putInt(offset + LINK_SEQUENCE_OFFSET, 0);
        return this;
    }

    FrameHeader writeData(int ringStep, int chunk, int elementOffset, int opLength, int count) {
        mutable.putInt(offset + RING_STEP_OFFSET, ringStep);
        mutable.putInt(offset + CHUNK_OFFSET, chunk);
        mutable.putInt(offset + ELEMENT_OFFSET_OFFSET, elementOffset);
        mutable.putInt(offset + OP_LENGTH_OFFSET, opLength);
        mutable.putInt(offset + COUNT_OFFSET, count);
        return this;
    }

    FrameHeader writeControl(byte phase, int waitingFor, int root, int opLength) {
        mutable.putByte(offset + PHASE_OFFSET, phase);
        mutable.putInt(offset + RING_STEP_OFFSET, waitingFor);
        mutable.putInt(offset + CHUNK_OFFSET, root);
        mutable.putInt(offset + ELEMENT_OFFSET_OFFSET, 0);
        mutable.putInt(offset + OP_LENGTH_OFFSET, opLength);
        mutable.putInt(offset + COUNT_OFFSET, 0);
        return this;
    }

    int magic() {
        return buffer.getInt(offset + MAGIC_OFFSET);
    }

    byte frameType() {
        return buffer.getByte(offset + FRAME_TYPE_OFFSET);
    }

    byte opType() {
        return buffer.getByte(offset + OP_TYPE_OFFSET);
    }

    byte encoding() {
        return buffer.getByte(offset + ENCODING_OFFSET);
    }

    byte phase() {
        return buffer.getByte(offset + PHASE_OFFSET);
    }

    int sender() {
        return buffer.getInt(offset + SENDER_OFFSET);
    }

    int epoch() {
        return buffer.getInt(offset + EPOCH_OFFSET);
    }

    long jobHash() {
        return buffer.getLong(offset + JOB_OFFSET);
    }

    long stageAttempt() {
        return buffer.getLong(offset + ATTEMPT_OFFSET);
    }

    long opSeq() {
        return buffer.getLong(offset + OP_SEQ_OFFSET);
    }

    long step() {
        return buffer.getLong(offset + STEP_OFFSET);
    }

    int ringStep() {
        return buffer.getInt(offset + RING_STEP_OFFSET);
    }

    int chunk() {
        return buffer.getInt(offset + CHUNK_OFFSET);
    }

    int elementOffset() {
        return buffer.getInt(offset + ELEMENT_OFFSET_OFFSET);
    }

    int opLength() {
        return buffer.getInt(offset + OP_LENGTH_OFFSET);
    }

    int count() {
        return buffer.getInt(offset + COUNT_OFFSET);
    }

    static void putLinkSequence(MutableDirectBuffer buffer, int frameOffset, int sequence) {
        buffer.putInt(frameOffset + LINK_SEQUENCE_OFFSET, sequence);
    }

    /** The sender field of the frame at {@code frameOffset}, read before the frame is verified. */
    static int senderOf(DirectBuffer buffer, int frameOffset) {
        return buffer.getInt(frameOffset + SENDER_OFFSET);
    }

    static int linkSequence(DirectBuffer buffer, int frameOffset) {
        return buffer.getInt(frameOffset + LINK_SEQUENCE_OFFSET);
    }

    /** Control frames reuse the ring-step field for the rank the sender is waiting for. */
    int waitingFor() {
        return ringStep();
    }

    /** Control frames reuse the chunk field for the root rank of a broadcast. */
    int root() {
        return chunk();
    }
}
