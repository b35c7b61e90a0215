package io.lockstep.worker.comm;

import org.agrona.DirectBuffer;
import org.agrona.UnsafeApi;

import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * All-reduce among ranks of one host through shared memory ({@link SharedMemorySegment}), instead of the
 * ring's 2(N−1) dependent hand-offs per chunk: one copy in, one reduction, one copy out, separated by waits
 * on the peers' published operation numbers.
 *
 * <ol>
 *   <li>wait until every peer has <em>gathered</em> the previous operation (so nobody still reads this
 *       rank's segment), copy the input into the segment, publish <em>written</em>;</li>
 *   <li>wait until every peer has written; sum this rank's shard (shard i of N, by rank order among the
 *       members) from every segment in member order, divide (AVERAGE) and round to the wire precision of a
 *       compressed call, into this rank's own segment; publish <em>reduced</em>;</li>
 *   <li>wait until every peer has reduced; copy every shard from its owner's segment into the output;
 *       publish <em>gathered</em>.</li>
 * </ol>
 * Every element is summed once, by its shard's owner, in the same order, and copied by everyone else, so all
 * ranks end bit-identical. Buffers of at most {@link #DIRECT_MAX_BYTES} skip the second wait: every rank sums
 * the whole buffer itself, in the same member order, so the results are bit-identical too, at one wait less.
 *
 * <p>Driven by the collective's event loop like a ring operation, so deadlines, heartbeats, interrupts and
 * lost or aborting peers are handled as for the ring ({@link #advance()} does a bounded slice of work per
 * call and returns 0 while waiting, which lets the loop idle). A peer's segment announcing another length or
 * element type fails the operation naming that peer. Reused across operations; owned by the rank's thread.
 */
final class SharedMemoryAllReduce extends RingOperation {
    /** Whole-buffer reduction by every rank below this size (bytes): cheaper than a second wait. */
    static final long DIRECT_MAX_BYTES = 64 * 1024;
    /** Bytes copied per {@link #advance()} call: keeps the loop responsive to control frames and deadlines. */
    private static final long COPY_SLICE_BYTES = 1024 * 1024;
    /** Bytes reduced per inner step (the scratch arrays' size) and per {@link #advance()} call. */
    private static final int REDUCE_SLICE_BYTES = 64 * 1024;
    private static final int REDUCE_BYTES_PER_CALL = 1024 * 1024;

    private enum State { AWAIT_FREE, COPY_IN, AWAIT_WRITTEN, REDUCE, AWAIT_REDUCED, GATHER, DONE }

    private final SharedMemorySegment[] segments;
    private final int members;
    private final int self;
    private final float[] floatSum = new float[REDUCE_SLICE_BYTES / Float.BYTES];
    private final float[] floatPart = new float[REDUCE_SLICE_BYTES / Float.BYTES];
    private final double[] doubleSum = new double[REDUCE_SLICE_BYTES / Double.BYTES];
    private final double[] doublePart = new double[REDUCE_SLICE_BYTES / Double.BYTES];

    private Object base;
    private long address;
    private int length;
    private boolean doubles;
    private int elementBytes;
    private byte encoding;
    private byte opType;
    private int divisor;
    private boolean direct;
    private State state = State.DONE;
    private long seq;
    private long previousSeq;
    /** Progress within the current state: bytes copied, or elements reduced. */
    private long cursor;
    private int gatherShard;
    private int awaited = Wire.NO_RANK;
    private String failure;
    private int failurePeer = Wire.NO_RANK;

    /**
     * @param segments the members' segments in member order ({@code segments[self]} is this rank's own)
     * @param self     this rank's index among the members
     */
    SharedMemoryAllReduce(OpIdentity identity, SharedMemorySegment[] segments, int self) {
        super(identity, segments.length, self, REDUCE_SLICE_BYTES);
        this.segments = segments;
        this.members = segments.length;
        this.self = self;
    }

    /** True when an all-reduce of {@code bytes} fits a segment (else the ring takes it; every rank decides alike). */
    static boolean fits(long bytes) {
        return bytes <= SharedMemorySegment.MAX_DATA_BYTES;
    }

    /**
     * Prepares an all-reduce of {@code length} values at ({@code base}, {@code address}).
     *
     * @param encoding wire encoding the caller asked for: values are summed in fp32, and the result rounded to
     *                 it so that it is what the ring would have delivered
     */
    void prepare(Object base, long address, int length, boolean doubles, byte encoding, ReduceOp op) {
        this.base = base;
        this.address = address;
        this.length = length;
        this.doubles = doubles;
        this.elementBytes = doubles ? Double.BYTES : Float.BYTES;
        this.encoding = doubles ? Wire.ENCODING_F64 : encoding;
        this.opType = RingAllReduce.allReduceType(op);
        this.divisor = op == ReduceOp.AVERAGE ? members : 1;
        this.direct = (long) length * elementBytes <= DIRECT_MAX_BYTES;
        this.state = State.AWAIT_FREE;
        this.seq = 0;
        this.cursor = 0;
        this.gatherShard = 0;
        this.awaited = Wire.NO_RANK;
        this.failure = null;
        this.failurePeer = Wire.NO_RANK;
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
        return state == State.DONE;
    }

    @Override
    boolean receivesDone() {
        return state == State.DONE;
    }

    @Override
    int sendSome(LinkSender sender, int maxFrames) {
        return 0;
    }

    @Override
    String onData(FrameHeader header, DirectBuffer buffer, int payloadOffset, int payloadLength) {
        return "shared-memory all-reduce received a ring frame";
    }

    @Override
    int awaitedPeer() {
        return state == State.DONE ? Wire.NO_RANK : awaited;
    }

    @Override
    String failure() {
        return failure;
    }

    @Override
    int failurePeer() {
        return failurePeer;
    }

    /**
     * Does the next bounded slice of work.
     *
     * @return work done (0 while waiting for a peer)
     */
    @Override
    int advance() {
        try {
            return switch (state) {
                case AWAIT_FREE -> awaitFree();
                case COPY_IN -> copyIn();
                case AWAIT_WRITTEN -> awaitWritten();
                case REDUCE -> reduce();
                case AWAIT_REDUCED -> awaitReduced();
                case GATHER -> gather();
                case DONE -> 0;
            };
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        }
    }

    private int awaitFree() {
        seq = identity.opSeq;
        for (int m = 0; m < members; m++) {
            if (m != self && segments[m].gathered() < previousSeq) {
                awaited = segments[m].rank;
                return 0;
            }
        }
        state = State.COPY_IN;
        return 1;
    }

    private int copyIn() throws IOException {
        SharedMemorySegment own = segments[self];
        long total = (long) length * elementBytes;
        if (cursor == 0) {
            own.ensureCapacity(total);
        }
        long bytes = Math.min(COPY_SLICE_BYTES, total - cursor);
        UnsafeApi.copyMemory(base, address + cursor, null, own.dataAddress() + cursor, bytes);
        cursor += bytes;
        if (cursor == total) {
            own.publishOperation(length, elementBytes);
            own.publishWritten(seq);
            cursor = 0;
            state = State.AWAIT_WRITTEN;
        }
        return 1;
    }

    private int awaitWritten() throws IOException {
        for (int m = 0; m < members; m++) {
            SharedMemorySegment peer = segments[m];
            if (m == self) {
                continue;
            }
            if (peer.written() < seq) {
                awaited = peer.rank;
                return 0;
            }
            if (peer.length() != length || peer.elementBytes() != elementBytes) {
                return fail(peer.rank, "rank " + peer.rank + " wrote " + peer.length() + " values of "
                        + peer.elementBytes() + " bytes into shared memory where this rank all-reduces " + length
                        + " values of " + elementBytes + " bytes: every rank must pass the same length and type");
            }
            if (!peer.ensureMapped((long) length * elementBytes)) {
                return fail(peer.rank, "rank " + peer.rank + "'s segment " + peer.path + " is shorter than the "
                        + length + " values it announced");
            }
        }
        cursor = direct ? 0 : shardStart(self);
        state = State.REDUCE;
        return 1;
    }

    private int reduce() {
        long end = direct ? length : shardStart(self + 1);
        long perCall = REDUCE_BYTES_PER_CALL / elementBytes;
        long stop = Math.min(end, cursor + perCall);
        int slice = REDUCE_SLICE_BYTES / elementBytes;
        // The shard's owner writes its sums over its own input in its segment (peers read them from there);
        // a whole-buffer reduction writes straight into the caller's output.
        Object targetBase = direct ? base : null;
        long targetAddress = direct ? address : segments[self].dataAddress();
        while (cursor < stop) {
            int count = (int) Math.min(slice, stop - cursor);
            long offset = cursor * elementBytes;
            if (doubles) {
                sumDoubles(offset, count, targetBase, targetAddress + offset);
            } else {
                sumFloats(offset, count, targetBase, targetAddress + offset);
            }
            cursor += count;
        }
        if (cursor == end) {
            segments[self].publishReduced(seq);
            if (direct) {
                finish();
            } else {
                state = State.AWAIT_REDUCED;
            }
        }
        return 1;
    }

    private void sumFloats(long offset, int count, Object targetBase, long target) {
        float[] sum = floatSum;
        float[] part = floatPart;
        long bytes = (long) count * Float.BYTES;
        UnsafeApi.copyMemory(null, segments[0].dataAddress() + offset, sum, ElementLoops.FLOAT_ARRAY_BASE, bytes);
        for (int m = 1; m < members; m++) {
            UnsafeApi.copyMemory(null, segments[m].dataAddress() + offset, part, ElementLoops.FLOAT_ARRAY_BASE, bytes);
            for (int i = 0; i < count; i++) {
                sum[i] += part[i];
            }
        }
        if (divisor != 1) {
            float by = divisor;
            for (int i = 0; i < count; i++) {
                sum[i] /= by;
            }
        }
        if (encoding == Wire.ENCODING_F16) {
            for (int i = 0; i < count; i++) {
                sum[i] = HalfFloats.fromHalf(HalfFloats.toHalf(sum[i]));
            }
        } else if (encoding == Wire.ENCODING_BF16) {
            for (int i = 0; i < count; i++) {
                sum[i] = HalfFloats.fromBfloat16(HalfFloats.toBfloat16(sum[i]));
            }
        }
        UnsafeApi.copyMemory(sum, ElementLoops.FLOAT_ARRAY_BASE, targetBase, target, bytes);
    }

    private void sumDoubles(long offset, int count, Object targetBase, long target) {
        double[] sum = doubleSum;
        double[] part = doublePart;
        long bytes = (long) count * Double.BYTES;
        UnsafeApi.copyMemory(null, segments[0].dataAddress() + offset, sum, ElementLoops.DOUBLE_ARRAY_BASE, bytes);
        for (int m = 1; m < members; m++) {
            UnsafeApi.copyMemory(null, segments[m].dataAddress() + offset, part, ElementLoops.DOUBLE_ARRAY_BASE, bytes);
            for (int i = 0; i < count; i++) {
                sum[i] += part[i];
            }
        }
        if (divisor != 1) {
            double by = divisor;
            for (int i = 0; i < count; i++) {
                sum[i] /= by;
            }
        }
        UnsafeApi.copyMemory(sum, ElementLoops.DOUBLE_ARRAY_BASE, targetBase, target, bytes);
    }

    private int awaitReduced() {
        for (int m = 0; m < members; m++) {
            if (m != self && segments[m].reduced() < seq) {
                awaited = segments[m].rank;
                return 0;
            }
        }
        gatherShard = 0;
        cursor = 0;
        state = State.GATHER;
        return 1;
    }

    private int gather() {
        long budget = COPY_SLICE_BYTES;
        while (gatherShard < members && budget > 0) {
            long first = (long) shardStart(gatherShard) * elementBytes;
            long shardBytes = (long) shardStart(gatherShard + 1) * elementBytes - first;
            long bytes = Math.min(budget, shardBytes - cursor);
            UnsafeApi.copyMemory(null, segments[gatherShard].dataAddress() + first + cursor, base,
                    address + first + cursor, bytes);
            cursor += bytes;
            budget -= bytes;
            if (cursor == shardBytes) {
                gatherShard++;
                cursor = 0;
            }
        }
        if (gatherShard == members) {
            finish();
        }
        return 1;
    }

    private void finish() {
        segments[self].publishGathered(seq);
        previousSeq = seq;
        awaited = Wire.NO_RANK;
        state = State.DONE;
    }

    /** First element of member {@code shard}'s shard. */
    private int shardStart(int shard) {
        return (int) ((long) shard * length / members);
    }

    private int fail(int peer, String message) {
        if (failure == null) {
            failure = message;
            failurePeer = peer;
        }
        return 0;
    }

    @Override
    String progress() {
        String what = switch (state) {
            case AWAIT_FREE -> "waits for rank " + awaited + " to finish reading the previous operation";
            case COPY_IN -> "copies its input into shared memory (" + cursor + " bytes so far)";
            case AWAIT_WRITTEN -> "wrote its input into shared memory and waits for rank " + awaited + "'s";
            case REDUCE -> "reduces " + (direct ? "the buffer" : "its shard") + " from shared memory";
            case AWAIT_REDUCED -> "reduced its shard and waits for rank " + awaited + "'s";
            case GATHER -> "copies the reduced shards out of shared memory";
            case DONE -> "finished";
        };
        return what + " (shared-memory all-reduce among " + members + " ranks of this host)";
    }
}
