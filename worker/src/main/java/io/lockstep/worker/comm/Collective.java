package io.lockstep.worker.comm;

/**
 * Collective operations among the N ranks of one training stage (one rank per replica).
 *
 * <p>Contract shared by every implementation:
 * <ul>
 *   <li>Every rank calls the same operations in the same order with the same lengths (for
 *       all-reduce and broadcast); a mismatch is detected where possible and fails the call.</li>
 *   <li>Calls are blocking and bounded: each fails with {@link CollectiveTimeoutException} naming
 *       the ranks still awaited when the configured deadline passes.</li>
 *   <li>Not thread-safe: one thread (the replica's training thread) owns a rank's collective.</li>
 *   <li>{@link #position(int, long)} tags the following operations with the training position;
 *       messages of another job, stage attempt or position are rejected, never mixed in.</li>
 * </ul>
 */
public interface Collective extends AutoCloseable {

    /** This rank, 0-based. */
    int rank();

    /** Number of ranks in the group. */
    int size();

    /** Tags subsequent operations with the epoch and step being trained (diagnostics and safety). */
    void position(int epoch, long step);

    /** In-place all-reduce of {@code data[offset, offset+length)}; every rank ends with the result. */
    void allReduce(float[] data, int offset, int length, ReduceOp op);

    /**
     * Like {@link #allReduce(float[], int, int, ReduceOp)}, with the payload narrowed on the wire to
     * {@code compression} for this call only (accumulation stays fp32; see {@link WireCompression}). For
     * gradients, never for parameters or statistics that must stay exact. Every rank must pass the same
     * compression for the same call. Implementations that cannot narrow refuse anything but
     * {@link WireCompression#NONE}.
     */
    default void allReduce(float[] data, int offset, int length, ReduceOp op, WireCompression compression) {
        if (compression != WireCompression.NONE) {
            throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot narrow payloads to "
                    + compression + "; use an AeronCollective");
        }
        allReduce(data, offset, length, op);
    }

    /** In-place all-reduce in double precision, for small buffers such as BatchNorm statistics. */
    void allReduce(double[] data, int offset, int length, ReduceOp op);

    default void allReduce(float[] data, ReduceOp op) {
        allReduce(data, 0, data.length, op);
    }

    default void allReduce(double[] data, ReduceOp op) {
        allReduce(data, 0, data.length, op);
    }

    /**
     * In-place all-reduce of {@code floatCount} native-order floats starting {@code floatOffset} floats
     * into {@code floats} (absolute indices; position and limit are ignored). Suits off-heap buffers such
     * as ND4J's. This default copies through a heap array; {@link AeronCollective} works in place.
     */
    default void allReduce(java.nio.ByteBuffer floats, int floatOffset, int floatCount, ReduceOp op) {
        allReduce(floats, floatOffset, floatCount, op, WireCompression.NONE);
    }

    /**
     * Like {@link #allReduce(java.nio.ByteBuffer, int, int, ReduceOp)}, narrowed on the wire to
     * {@code compression} as {@link #allReduce(float[], int, int, ReduceOp, WireCompression)} is. This
     * default copies through a heap array; {@link AeronCollective} works in place.
     */
    default void allReduce(java.nio.ByteBuffer floats, int floatOffset, int floatCount, ReduceOp op,
                           WireCompression compression) {
        java.nio.FloatBuffer view = floats.duplicate().order(floats.order()).position(0).limit(floats.capacity())
                .slice().order(floats.order()).asFloatBuffer();
        float[] copy = new float[floatCount];
        view.get(floatOffset, copy, 0, floatCount);
        allReduce(copy, 0, floatCount, op, compression);
        view.put(floatOffset, copy, 0, floatCount);
    }

    /** Traffic counters of this rank since it was opened; {@link CollectiveStats#NONE} if not counted. */
    default CollectiveStats stats() {
        return CollectiveStats.NONE;
    }

    /**
     * Gathers one variable-sized contribution from every rank.
     *
     * @return array indexed by rank; element {@code rank()} is a copy of {@code contribution}
     */
    byte[][] allGather(byte[] contribution);

    /** Overwrites {@code data[offset, offset+length)} on every rank with the root's values. */
    void broadcast(float[] data, int offset, int length, int root);

    /** Returns the root's bytes on every rank ({@code data} is ignored on non-root ranks). */
    byte[] broadcast(byte[] data, int root);

    /** Returns once every rank has entered the barrier. */
    void barrier();

    /** Releases this rank's transport resources; idempotent. */
    @Override
    void close();
}
