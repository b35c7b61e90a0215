package io.lockstep.worker.comm;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

/**
 * Ring all-reduce: reduce-scatter then all-gather, each over N−1 steps, so every rank sends and
 * receives 2(N−1)/N of the buffer — bandwidth-optimal.
 *
 * <p>The buffer is cut into N segments by ring position (sizes differ by at most one element, so any
 * length works, including lengths below N). At step s a rank sends segment (p − s) mod N and receives
 * segment (p − s − 1) mod N, the one it sends at step s + 1; steps 0..N−2 accumulate, steps N−1..2N−3
 * copy. Segments are cut into chunks of {@code chunkBytes} on the wire, and chunk c of step s + 1 goes
 * out as soon as chunk c of step s has arrived and been reduced: the ring is pipelined chunk by chunk.
 *
 * <p>After its last reduce-scatter chunk, the owner of a segment divides by N (for AVERAGE) and rounds
 * to the wire precision (fp16/bf16), so every rank ends with bit-identical values.
 */
final class RingAllReduce extends RingOperation {
    private final long[] segmentStart;
    private final Reducer reducer;

    private Object base;
    private long address;
    private int length;
    private boolean doubles;
    private byte encoding;
    private byte opType;
    private int localBytes;
    private int wireBytes;
    private int chunkElements;
    private float floatDivisor;
    private double doubleDivisor;
    private int steps;
    private int sendStep;
    private int sendChunk;
    private int recvStep;
    private int recvChunk;

    RingAllReduce(OpIdentity identity, int ringSize, int position, int chunkBytes) {
        super(identity, ringSize, position, chunkBytes);
        this.segmentStart = new long[ringSize + 1];
        this.reducer = new Reducer(chunkBytes / 2, chunkBytes / Double.BYTES);
    }

    /**
     * Prepares an all-reduce of {@code length} values at ({@code base}, {@code address}).
     *
     * @param doubles  fp64 values (sent uncompressed) instead of fp32
     * @param encoding wire encoding of fp32 values
     */
    void prepare(Object base, long address, int length, boolean doubles, byte encoding, ReduceOp op) {
        this.base = base;
        this.address = address;
        this.length = length;
        this.doubles = doubles;
        this.encoding = doubles ? Wire.ENCODING_F64 : encoding;
        this.opType = op == ReduceOp.SUM ? Wire.OP_ALL_REDUCE_SUM : Wire.OP_ALL_REDUCE_AVERAGE;
        this.localBytes = doubles ? Double.BYTES : Float.BYTES;
        this.wireBytes = Wire.bytesPerElement(this.encoding);
        this.chunkElements = chunkBytes / wireBytes;
        this.floatDivisor = op == ReduceOp.AVERAGE ? ringSize : 1f;
        this.doubleDivisor = op == ReduceOp.AVERAGE ? ringSize : 1d;
        for (int i = 0; i <= ringSize; i++) {
            segmentStart[i] = (long) i * length / ringSize;
        }
        steps = ringSize == 1 ? 0 : 2 * (ringSize - 1);
        sendStep = 0;
        sendChunk = 0;
        recvStep = 0;
        recvChunk = 0;
        skipEmptySendSteps();
        skipEmptyReceiveSteps();
    }

    /** Drops references to the caller's memory once the operation is over. */
    void release() {
        base = null;
    }

    @Override
    byte opType() {
        return opType;
    }

    @Override
    byte encoding() {
        return encoding;
    }

    @Override
    int agreedLength() {
        return length;
    }

    @Override
    boolean sendsDone() {
        return sendStep >= steps;
    }

    @Override
    boolean receivesDone() {
        return recvStep >= steps;
    }

    private int sendSegment(int step) {
        return floorMod(position - step, ringSize);
    }

    private int receiveSegment(int step) {
        return floorMod(position - step - 1, ringSize);
    }

    private int segmentLength(int segment) {
        return (int) (segmentStart[segment + 1] - segmentStart[segment]);
    }

    private int chunks(int segment) {
        return (segmentLength(segment) + chunkElements - 1) / chunkElements;
    }

    private void skipEmptySendSteps() {
        while (sendStep < steps && sendChunk >= chunks(sendSegment(sendStep))) {
            sendStep++;
            sendChunk = 0;
        }
    }

    private void skipEmptyReceiveSteps() {
        while (recvStep < steps && recvChunk >= chunks(receiveSegment(recvStep))) {
            recvStep++;
            recvChunk = 0;
        }
    }

    @Override
    int sendSome(LinkSender sender, int maxFrames) {
        int sent = 0;
        while (sent < maxFrames && sendStep < steps) {
            // Step s + 1 forwards what step s brought in: wait for the same chunk of the previous step.
            if (sendStep > 0 && !received(recvStep, recvChunk, sendStep - 1, sendChunk)) {
                break;
            }
            int segment = sendSegment(sendStep);
            int first = sendChunk * chunkElements;
            int count = Math.min(chunkElements, segmentLength(segment) - first);
            int frameLength = FrameHeader.LENGTH + count * wireBytes;
            if (!sender.begin(frameLength)) {
                break;
            }
            MutableDirectBuffer frame = sender.buffer();
            int frameOffset = sender.offset();
            identity.stamp(tx.wrap(frame, frameOffset), FrameHeader.TYPE_DATA, opType, encoding)
                    .writeData(sendStep, sendChunk, first, length, count);
            long source = address + (segmentStart[segment] + first) * localBytes;
            long target = frame.addressOffset() + frameOffset + FrameHeader.LENGTH;
            if (doubles) {
                ElementLoops.copyBytes(base, source, frame.byteArray(), target, (long) count * Double.BYTES);
            } else {
                ElementLoops.encodeFloats(encoding, base, source, frame.byteArray(), target, count);
            }
            sender.commit(frameLength);
            sent++;
            sendChunk++;
            skipEmptySendSteps();
        }
        return sent;
    }

    @Override
    String onData(FrameHeader header, DirectBuffer buffer, int payloadOffset, int payloadLength) {
        if (header.opLength() != length) {
            return "rank " + header.sender() + " all-reduces " + header.opLength() + " values where this rank has "
                    + length + ": every rank must pass the same length";
        }
        if (recvStep >= steps) {
            return "rank " + header.sender() + " sent more chunks than this all-reduce has";
        }
        int segment = receiveSegment(recvStep);
        int first = recvChunk * chunkElements;
        int count = Math.min(chunkElements, segmentLength(segment) - first);
        if (header.ringStep() != recvStep || header.chunk() != recvChunk || header.elementOffset() != first
                || header.count() != count || payloadLength != count * wireBytes) {
            return "rank " + header.sender() + " sent chunk " + header.chunk() + " of step " + header.ringStep()
                    + " (" + header.count() + " values at " + header.elementOffset() + ") where this rank expected chunk "
                    + recvChunk + " of step " + recvStep + " (" + count + " values at " + first
                    + "): every rank must use the same chunkBytes";
        }
        long target = address + (segmentStart[segment] + first) * localBytes;
        Object frameBase = buffer.byteArray();
        long source = buffer.addressOffset() + payloadOffset;
        if (recvStep < ringSize - 1) {
            boolean last = recvStep == ringSize - 2;
            if (doubles) {
                reducer.accumulateDoubles(frameBase, source, base, target, count, last ? doubleDivisor : 1d);
            } else {
                reducer.accumulateFloats(encoding, frameBase, source, base, target, count);
                if (last && (floatDivisor != 1f || encoding != Wire.ENCODING_F32)) {
                    reducer.finishFloats(encoding, base, target, count, floatDivisor);
                }
            }
        } else if (doubles) {
            ElementLoops.copyBytes(frameBase, source, base, target, (long) count * Double.BYTES);
        } else {
            ElementLoops.copyFloats(encoding, frameBase, source, base, target, count);
        }
        recvChunk++;
        skipEmptyReceiveSteps();
        return null;
    }

    @Override
    String progress() {
        return describeStep("sent", sendStep, sendChunk) + ", " + describeStep("received", recvStep, recvChunk);
    }

    private String describeStep(String verb, int step, int chunk) {
        if (step >= steps) {
            return verb + " everything";
        }
        String phase = step < ringSize - 1 ? "reduce-scatter" : "all-gather";
        int phaseStep = step < ringSize - 1 ? step : step - (ringSize - 1);
        return verb + " " + chunk + " chunks of " + phase + " step " + (phaseStep + 1) + "/" + (ringSize - 1);
    }
}
