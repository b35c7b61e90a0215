package io.lockstep.worker.comm;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

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
 *
 * <p>Under {@link WireSecurity#AUTHENTICATE} on a ring of three or more, the all-gather forwards each frame
 * as its originator sealed it: the owner of a segment seals its chunks on its own link, and every rank after
 * it sends on the header and tag it received, with the payload re-encoded from the values it stored (the
 * same bytes: they were decoded exactly, and encoding an exactly representable value gives its bits back).
 * Each all-gather frame is thus sealed once and verified N − 1 times instead of sealed and verified at every
 * hop: a rank runs the cipher over 3N − 2 segments per all-reduce instead of 4N − 4. The receiver checks a
 * forwarded frame under the originator's link key ({@link FrameSeal.ForwardedOpener}), and here that it
 * comes from the owner of the segment this step expects.
 *
 * <p>The hierarchical all-reduce runs the two halves apart ({@link Phases}): a reduce-scatter leaves the
 * rank at position p holding segment {@link #ownedSegment(int, int) (p + 1) mod N} summed over the ring
 * (neither divided nor rounded), and an all-gather starts from exactly that state.
 */
final class RingAllReduce extends RingOperation {
    /** Which steps of the ring algorithm an operation runs. */
    enum Phases {
        /** Reduce-scatter then all-gather: a complete all-reduce. */
        BOTH,
        /** Steps 0..N−2 only, leaving each rank its owned segment summed over the ring. */
        REDUCE_SCATTER,
        /** Steps N−1..2N−3 only, from each rank holding its owned segment's final values. */
        ALL_GATHER
    }

    /** Bytes kept per forwarded chunk: the header and tag its originator sealed. */
    private static final int FORWARD_RECORD = FrameHeader.LENGTH + FrameSeal.TAG_LENGTH;

    private final int[] ringOrder;
    private final boolean forwardsSealed;
    private final long[] segmentStart;
    private final Reducer reducer;
    /** Header and tag of each all-gather chunk received that goes on to the successor unchanged. */
    private UnsafeBuffer forwardRecords = new UnsafeBuffer(new byte[0]);
    private int recordsPerStep;

    private Object base;
    private long address;
    private int length;
    private int agreedLength;
    private boolean doubles;
    private byte encoding;
    private byte opType;
    private int localBytes;
    private int wireBytes;
    private int chunkElements;
    private float floatDivisor;
    private double doubleDivisor;
    private int firstStep;
    private int steps;
    private boolean finishes;
    private int sendStep;
    private int sendChunk;
    private int recvStep;
    private int recvChunk;

    /**
     * @param ringOrder      ranks by ring position
     * @param forwardsSealed the all-gather forwards frames under their originator's seal
     *                       ({@link WireSecurity#forwardsSealedFrames})
     */
    RingAllReduce(OpIdentity identity, int[] ringOrder, int position, int chunkBytes, boolean forwardsSealed) {
        super(identity, ringOrder.length, position, chunkBytes);
        this.ringOrder = ringOrder;
        this.forwardsSealed = forwardsSealed;
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
        prepare(base, address, length, length, doubles, encoding, allReduceType(op), Phases.BOTH,
                op == ReduceOp.AVERAGE ? ringSize : 1);
    }

    /**
     * Prepares one phase, or both, of an all-reduce.
     *
     * @param agreedLength length every rank of the group announces and stamps on frames (the whole buffer's,
     *                     where this ring reduces one shard of it)
     * @param opType       operation type on the wire
     * @param divisor      what the owner of a segment divides its sum by after the reduce-scatter, when
     *                     {@code phases} is {@link Phases#BOTH}; 1 for a sum
     */
    void prepare(Object base, long address, int length, int agreedLength, boolean doubles, byte encoding, byte opType,
                 Phases phases, int divisor) {
        this.base = base;
        this.address = address;
        this.length = length;
        this.agreedLength = agreedLength;
        this.doubles = doubles;
        this.encoding = doubles ? Wire.ENCODING_F64 : encoding;
        this.opType = opType;
        this.localBytes = doubles ? Double.BYTES : Float.BYTES;
        this.wireBytes = Wire.bytesPerElement(this.encoding);
        this.chunkElements = chunkBytes / wireBytes;
        this.floatDivisor = divisor;
        this.doubleDivisor = divisor;
        for (int i = 0; i <= ringSize; i++) {
            segmentStart[i] = (long) i * length / ringSize;
        }
        int half = ringSize - 1;
        firstStep = phases == Phases.ALL_GATHER ? half : 0;
        steps = phases == Phases.REDUCE_SCATTER ? half : 2 * half;
        finishes = phases == Phases.BOTH;
        if (forwardsSealed) {
            recordsPerStep = 0;
            for (int segment = 0; segment < ringSize; segment++) {
                recordsPerStep = Math.max(recordsPerStep, chunks(segment));
            }
            long bytes = (long) (ringSize - 2) * recordsPerStep * FORWARD_RECORD;
            if (bytes > Integer.MAX_VALUE) {
                throw new CollectiveException("an all-reduce of " + length + " values in chunks of " + chunkBytes
                        + " bytes on a ring of " + ringSize + " forwards " + (ringSize - 2) * (long) recordsPerStep
                        + " frames under their originator's seal, too many to keep: raise chunkBytes");
            }
            if (forwardRecords.capacity() < bytes) {
                forwardRecords = new UnsafeBuffer(new byte[(int) bytes]);
            }
        }
        sendStep = firstStep;
        sendChunk = 0;
        recvStep = firstStep;
        recvChunk = 0;
        skipEmptySendSteps();
        skipEmptyReceiveSteps();
    }

    static byte allReduceType(ReduceOp op) {
        return op == ReduceOp.SUM ? Wire.OP_ALL_REDUCE_SUM : Wire.OP_ALL_REDUCE_AVERAGE;
    }

    /** The segment the rank at {@code position} holds complete after a reduce-scatter on a ring of {@code ringSize}. */
    static int ownedSegment(int position, int ringSize) {
        return (position + 1) % ringSize;
    }

    /** First element of segment {@code segment} when {@code length} values are cut into {@code ringSize} segments. */
    static int segmentStart(int length, int ringSize, int segment) {
        return (int) ((long) segment * length / ringSize);
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
        return agreedLength;
    }

    @Override
    boolean acceptsForwardedFrames() {
        return forwardsSealed;
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

    /** True when step {@code step} sends on frames received at the step before, sealed by their originator. */
    private boolean forwards(int step) {
        return forwardsSealed && step >= ringSize;
    }

    /** Where the record of the chunk received at {@code step} (an all-gather step that is forwarded) lies. */
    private int recordOffset(int step, int chunk) {
        return ((step - (ringSize - 1)) * recordsPerStep + chunk) * FORWARD_RECORD;
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
            if (sendStep > firstStep && !received(recvStep, recvChunk, sendStep - 1, sendChunk)) {
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
            boolean forwarded = forwards(sendStep);
            if (forwarded) {
                int record = recordOffset(sendStep - 1, sendChunk);
                frame.putBytes(frameOffset, forwardRecords, record, FrameHeader.LENGTH);
                frame.putBytes(frameOffset + frameLength, forwardRecords, record + FrameHeader.LENGTH,
                        FrameSeal.TAG_LENGTH);
            } else {
                identity.stamp(tx.wrap(frame, frameOffset), FrameHeader.TYPE_DATA, opType, encoding)
                        .writeData(sendStep, sendChunk, first, agreedLength, count);
            }
            long source = address + (segmentStart[segment] + first) * localBytes;
            long target = frame.addressOffset() + frameOffset + FrameHeader.LENGTH;
            if (doubles) {
                ElementLoops.copyBytes(base, source, frame.byteArray(), target, (long) count * Double.BYTES);
            } else {
                ElementLoops.encodeFloats(encoding, base, source, frame.byteArray(), target, count);
            }
            if (forwarded) {
                sender.commitForwarded(frameLength);
            } else {
                sender.commit(frameLength);
            }
            sent++;
            sendChunk++;
            skipEmptySendSteps();
        }
        return sent;
    }

    @Override
    String onData(FrameHeader header, DirectBuffer buffer, int payloadOffset, int payloadLength) {
        if (header.opLength() != agreedLength) {
            return "rank " + header.sender() + " all-reduces " + header.opLength() + " values where this rank has "
                    + agreedLength + ": every rank must pass the same length";
        }
        if (recvStep >= steps) {
            return "rank " + header.sender() + " sent more chunks than this all-reduce has";
        }
        int segment = receiveSegment(recvStep);
        int first = recvChunk * chunkElements;
        int count = Math.min(chunkElements, segmentLength(segment) - first);
        // A forwarded frame carries its originator's header: the segment owner's rank and all-gather step.
        boolean forwarded = forwards(recvStep);
        int sealedAt = forwarded ? ringSize - 1 : recvStep;
        int sealedBy = ringOrder[floorMod(forwarded ? segment - 1 : position - 1, ringSize)];
        if (header.sender() != sealedBy || header.ringStep() != sealedAt || header.chunk() != recvChunk
                || header.elementOffset() != first || header.count() != count || payloadLength != count * wireBytes) {
            return "rank " + header.sender() + " sent chunk " + header.chunk() + " of step " + header.ringStep()
                    + " (" + header.count() + " values at " + header.elementOffset() + ") where this rank expected chunk "
                    + recvChunk + " of step " + sealedAt + " from rank " + sealedBy + " (" + count + " values at "
                    + first + "): every rank must use the same chunkBytes";
        }
        if (forwards(recvStep + 1) && recvStep + 1 < steps) {
            // Sent on at the next step: keep the header and tag (under auth the tag follows the opened frame).
            int record = recordOffset(recvStep, recvChunk);
            forwardRecords.putBytes(record, buffer, payloadOffset - FrameHeader.LENGTH, FrameHeader.LENGTH);
            forwardRecords.putBytes(record + FrameHeader.LENGTH, buffer, payloadOffset + payloadLength,
                    FrameSeal.TAG_LENGTH);
        }
        long target = address + (segmentStart[segment] + first) * localBytes;
        Object frameBase = buffer.byteArray();
        long source = buffer.addressOffset() + payloadOffset;
        if (recvStep < ringSize - 1) {
            boolean last = finishes && recvStep == ringSize - 2;
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
        return verb + " " + chunk + " chunks of " + phase + " step " + (phaseStep + 1) + "/" + (ringSize - 1)
                + " on a ring of " + ringSize;
    }
}
