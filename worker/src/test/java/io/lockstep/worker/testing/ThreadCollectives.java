package io.lockstep.worker.testing;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.CollectiveException;
import io.lockstep.worker.comm.CollectiveTimeoutException;
import io.lockstep.worker.comm.ReduceOp;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * TEST FIXTURE — an in-process {@link Collective} group of N ranks, one per thread, for unit tests of
 * code that uses collectives (synchronized BatchNorm, gradient exchange) before or without Aeron.
 *
 * <p>Every operation is an exchange through one {@link CyclicBarrier}: each rank deposits a copy of its
 * contribution, waits for all, reads all, and waits again so no slot is reused early. Reductions add
 * the contributions in rank order 0..N−1 (in the buffer's own precision), so results are reproducible
 * and bit-identical on every rank, as the ring all-reduce promises. Each wait is bounded by
 * {@code timeoutMs}; a timeout names the ranks that had not entered the operation. A rank calling a
 * different operation, length, root or training position than rank 0 fails every rank with a message
 * naming both calls. After any failure the barrier stays broken: create a new group.
 *
 * <p>Allocates per call and is not fast: never use it outside tests. Each rank's {@link Collective}
 * belongs to one thread.
 */
public final class ThreadCollectives {

    /** The body run on each rank's thread by {@link #runOnAllRanks}. */
    @FunctionalInterface
    public interface RankBody<T> {
        T run(Collective collective) throws Exception;
    }

    private final int size;
    private final long timeoutMs;
    private final CyclicBarrier barrier;
    private final Object[] slots;
    private final String[] signatures;
    private final AtomicLongArray entered;
    private final Rank[] ranks;

    private ThreadCollectives(int size, long timeoutMs) {
        if (size < 1) {
            throw new IllegalArgumentException("size must be >= 1, got " + size);
        }
        if (timeoutMs <= 0) {
            throw new IllegalArgumentException("timeoutMs must be > 0, got " + timeoutMs);
        }
        this.size = size;
        this.timeoutMs = timeoutMs;
        this.barrier = new CyclicBarrier(size);
        this.slots = new Object[size];
        this.signatures = new String[size];
        this.entered = new AtomicLongArray(size);
        this.ranks = new Rank[size];
        for (int r = 0; r < size; r++) {
            ranks[r] = new Rank(r);
        }
    }

    /** A group of {@code size} ranks whose every wait gives up after {@code timeoutMs}. */
    public static ThreadCollectives create(int size, long timeoutMs) {
        return new ThreadCollectives(size, timeoutMs);
    }

    public int size() {
        return size;
    }

    /** The collective of rank {@code rank}; hand it to exactly one thread. */
    public Collective rank(int rank) {
        return ranks[rank];
    }

    /**
     * Runs {@code body} once per rank, each on its own thread with that rank's collective, and returns
     * the results in rank order. Waits at most {@code deadlineMs} for all ranks; on failure rethrows the
     * root cause (a rank's own error rather than the broken-barrier errors it caused in its peers), with
     * the others attached as suppressed.
     */
    public <T> List<T> runOnAllRanks(long deadlineMs, RankBody<T> body) throws Exception {
        return RankThreads.runAll(size, deadlineMs, rank -> body.run(ranks[rank]));
    }

    private Object[] exchange(int rank, String signature, Object contribution) {
        long operation = entered.incrementAndGet(rank);
        slots[rank] = contribution;
        signatures[rank] = signature;
        await(rank, signature, operation);
        Object[] all = slots.clone();
        String[] allSignatures = signatures.clone();
        await(rank, signature, operation);
        for (int r = 1; r < size; r++) {
            if (!allSignatures[r].equals(allSignatures[0])) {
                throw new CollectiveException("mismatched collective calls: rank 0 called " + allSignatures[0]
                        + " but rank " + r + " called " + allSignatures[r]
                        + "; every rank must call the same operations in the same order");
            }
        }
        return all;
    }

    private void await(int rank, String signature, long operation) {
        try {
            barrier.await(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            List<Integer> silent = new ArrayList<>();
            for (int r = 0; r < size; r++) {
                if (entered.get(r) < operation) {
                    silent.add(r);
                }
            }
            throw new CollectiveTimeoutException("rank " + rank + " waited " + timeoutMs + " ms in " + signature
                    + " (operation #" + operation + ") for ranks " + silent, silent);
        } catch (BrokenBarrierException e) {
            throw new CollectiveException("rank " + rank + ": " + signature + " aborted because another rank "
                    + "timed out or failed");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CollectiveException("rank " + rank + " interrupted while waiting in " + signature, e);
        }
    }

    private final class Rank implements Collective {
        private final int rank;
        private int epoch = -1;
        private long step = -1;
        private volatile boolean closed;

        Rank(int rank) {
            this.rank = rank;
        }

        @Override
        public int rank() {
            return rank;
        }

        @Override
        public int size() {
            return size;
        }

        @Override
        public void position(int epoch, long step) {
            this.epoch = epoch;
            this.step = step;
        }

        private String signature(String operation) {
            if (closed) {
                throw new IllegalStateException("rank " + rank + " is closed; " + operation + " after close()");
            }
            return operation + "@epoch" + epoch + "/step" + step;
        }

        @Override
        public void allReduce(float[] data, int offset, int length, ReduceOp op) {
            Object[] all = exchange(rank, signature("allReduce(float[" + length + "]," + op + ")"),
                    Arrays.copyOfRange(data, offset, offset + length));
            for (int i = 0; i < length; i++) {
                float sum = 0f;
                for (int r = 0; r < size; r++) {
                    sum += ((float[]) all[r])[i];
                }
                data[offset + i] = op == ReduceOp.AVERAGE ? sum / size : sum;
            }
        }

        @Override
        public void allReduce(double[] data, int offset, int length, ReduceOp op) {
            Object[] all = exchange(rank, signature("allReduce(double[" + length + "]," + op + ")"),
                    Arrays.copyOfRange(data, offset, offset + length));
            for (int i = 0; i < length; i++) {
                double sum = 0.0;
                for (int r = 0; r < size; r++) {
                    sum += ((double[]) all[r])[i];
                }
                data[offset + i] = op == ReduceOp.AVERAGE ? sum / size : sum;
            }
        }

        @Override
        public byte[][] allGather(byte[] contribution) {
            Object[] all = exchange(rank, signature("allGather"), contribution.clone());
            byte[][] result = new byte[size][];
            for (int r = 0; r < size; r++) {
                result[r] = ((byte[]) all[r]).clone();
            }
            return result;
        }

        @Override
        public void broadcast(float[] data, int offset, int length, int root) {
            Object mine = rank == root ? Arrays.copyOfRange(data, offset, offset + length) : null;
            Object[] all = exchange(rank, signature("broadcast(float[" + length + "],root=" + root + ")"), mine);
            System.arraycopy((float[]) all[root], 0, data, offset, length);
        }

        @Override
        public byte[] broadcast(byte[] data, int root) {
            Object mine = rank == root ? data.clone() : null;
            Object[] all = exchange(rank, signature("broadcast(bytes,root=" + root + ")"), mine);
            return ((byte[]) all[root]).clone();
        }

        @Override
        public void barrier() {
            exchange(rank, signature("barrier"), null);
        }

        @Override
        public void close() {
            closed = true;
        }
    }
}
