package io.lockstep.worker.comm;

/** Codes carried in {@link FrameHeader}: operation types, payload encodings, control phases, links. */
final class Wire {
    static final byte OP_ALL_REDUCE_SUM = 1;
    static final byte OP_ALL_REDUCE_AVERAGE = 2;
    static final byte OP_ALL_GATHER = 3;
    static final byte OP_BROADCAST_FLOATS = 4;
    static final byte OP_BROADCAST_BYTES = 5;
    static final byte OP_BARRIER = 6;
    static final byte OP_STREAM = 7;
    /** First phase of a hierarchical all-reduce: reduce-scatter among the ranks of one host. */
    static final byte OP_HOST_REDUCE_SCATTER = 8;
    /** Last phase of a hierarchical all-reduce: all-gather of the reduced shards among the ranks of one host. */
    static final byte OP_HOST_ALL_GATHER = 9;

    static final byte ENCODING_NONE = 0;
    static final byte ENCODING_F32 = 1;
    static final byte ENCODING_F16 = 2;
    static final byte ENCODING_BF16 = 3;
    static final byte ENCODING_F64 = 4;
    static final byte ENCODING_BYTES = 5;

    /** A rank entered an operation. */
    static final byte PHASE_ARRIVED = 1;
    /** A rank is inside an operation and alive (heartbeat). */
    static final byte PHASE_WAITING = 2;
    /** A rank finished an operation: it holds everything it needed from its peers. */
    static final byte PHASE_DONE = 3;
    /** A rank gave up on an operation; the frame names the rank it blames and why. */
    static final byte PHASE_ABORTED = 4;

    /** Why a rank gave up (carried in the root field of an aborted frame). */
    static final int ABORT_TIMEOUT = 1;
    static final int ABORT_PEER_LOST = 2;
    static final int ABORT_OTHER = 3;

    /** The ring link carrying operation payloads from a rank to its successor. */
    static final int LINK_DATA = 0;
    /** The link between every pair of ranks carrying arrivals, heartbeats and completions. */
    static final int LINK_CONTROL = 1;
    /** Hierarchical all-reduce: the ring link among the ranks of one host. */
    static final int LINK_HOST_RING = 2;
    /** Hierarchical all-reduce: the ring link among the ranks of the same local index on every host. */
    static final int LINK_CROSS_RING = 3;
    static final int LINK_COUNT = 4;

    /** No rank (control frames of a rank that waits for nobody in particular). */
    static final int NO_RANK = -1;

    private Wire() {
    }

    static String opName(byte opType) {
        return switch (opType) {
            case OP_ALL_REDUCE_SUM -> "allReduce(SUM)";
            case OP_ALL_REDUCE_AVERAGE -> "allReduce(AVERAGE)";
            case OP_ALL_GATHER -> "allGather";
            case OP_BROADCAST_FLOATS -> "broadcast(float[])";
            case OP_BROADCAST_BYTES -> "broadcast(byte[])";
            case OP_BARRIER -> "barrier";
            case OP_STREAM -> "ring stream";
            case OP_HOST_REDUCE_SCATTER -> "allReduce (within-host reduce-scatter)";
            case OP_HOST_ALL_GATHER -> "allReduce (within-host all-gather)";
            default -> "unknown operation " + opType;
        };
    }

    static String encodingName(byte encoding) {
        return switch (encoding) {
            case ENCODING_NONE -> "none";
            case ENCODING_F32 -> "fp32";
            case ENCODING_F16 -> "fp16";
            case ENCODING_BF16 -> "bf16";
            case ENCODING_F64 -> "fp64";
            case ENCODING_BYTES -> "bytes";
            default -> "unknown encoding " + encoding;
        };
    }

    static int bytesPerElement(byte encoding) {
        return switch (encoding) {
            case ENCODING_F32 -> Float.BYTES;
            case ENCODING_F16, ENCODING_BF16 -> 2;
            case ENCODING_F64 -> Double.BYTES;
            case ENCODING_BYTES -> 1;
            default -> throw new IllegalArgumentException("no element size for " + encodingName(encoding));
        };
    }

    static byte floatEncoding(WireCompression compression) {
        return switch (compression) {
            case NONE -> ENCODING_F32;
            case FP16 -> ENCODING_F16;
            case BF16 -> ENCODING_BF16;
        };
    }
}
