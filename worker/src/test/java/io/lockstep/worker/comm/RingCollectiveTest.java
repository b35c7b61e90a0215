package io.lockstep.worker.comm;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every operation of in-process groups of 1 to 5 ranks (threads, IPC) against a sequential reference,
 * for lengths 0, 1, N−1, N+1, a prime and a multi-chunk size. Small chunks (4 KiB) make every buffer
 * above 1024 floats travel as several pipelined chunks.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RingCollectiveTest {
    private static final int PRIME = 1_009;
    private static final int MULTI_CHUNK = 25_013;

    private final Map<Integer, InProcessGroup> groups = new HashMap<>();

    @BeforeAll
    void openGroups() throws Exception {
        for (int size = 1; size <= 5; size++) {
            groups.put(size, InProcessGroup.open(size, InProcessGroup.testConfig().build()));
        }
    }

    @AfterAll
    void closeGroups() throws Exception {
        for (InProcessGroup group : groups.values()) {
            group.close();
        }
    }

    private static int[] lengths(int size) {
        return Arrays.stream(new int[]{0, 1, size - 1, size + 1, PRIME, MULTI_CHUNK}).distinct().toArray();
    }

    /** Integer-valued floats: sums are exact in any order, so the ring must match the reference exactly. */
    private static float[] integerFloats(int rank, int length, long seed) {
        Random random = new Random(seed * 31 + rank);
        float[] values = new float[length];
        for (int i = 0; i < length; i++) {
            values[i] = random.nextInt(2001) - 1000;
        }
        return values;
    }

    @ParameterizedTest(name = "N={0}")
    @ValueSource(ints = {1, 2, 3, 4, 5})
    void floatAllReduceEqualsTheSequentialSumAndAverage(int size) throws Exception {
        InProcessGroup group = groups.get(size);
        for (ReduceOp op : ReduceOp.values()) {
            for (int length : lengths(size)) {
                long seed = length * 7L + op.ordinal();
                List<float[]> results = group.run(c -> {
                    float[] data = integerFloats(c.rank(), length + 6, seed);
                    c.allReduce(data, 3, length, op);
                    return data;
                });
                float[][] contributions = new float[size][];
                for (int rank = 0; rank < size; rank++) {
                    contributions[rank] = integerFloats(rank, length + 6, seed);
                }
                float[] expected = new float[length + 6];
                for (int i = 3; i < length + 3; i++) {
                    float sum = 0;
                    for (int rank = 0; rank < size; rank++) {
                        sum += contributions[rank][i];
                    }
                    expected[i] = op == ReduceOp.SUM ? sum : sum / size;
                }
                for (int rank = 0; rank < size; rank++) {
                    float[] own = contributions[rank];
                    // Values outside [offset, offset + length) are untouched.
                    System.arraycopy(own, 0, expected, 0, 3);
                    System.arraycopy(own, length + 3, expected, length + 3, 3);
                    assertArrayEquals(expected, results.get(rank), op + " of " + length + " floats on rank " + rank);
                }
            }
        }
    }

    @ParameterizedTest(name = "N={0}")
    @ValueSource(ints = {1, 2, 3, 4, 5})
    void realValuedAllReduceIsBitIdenticalOnEveryRankAndCloseToTheReference(int size) throws Exception {
        InProcessGroup group = groups.get(size);
        int length = MULTI_CHUNK;
        List<float[]> results = group.run(c -> {
            float[] data = gaussians(c.rank(), length);
            c.allReduce(data, ReduceOp.AVERAGE);
            return data;
        });
        float[][] contributions = new float[size][];
        for (int rank = 0; rank < size; rank++) {
            contributions[rank] = gaussians(rank, length);
        }
        for (int i = 0; i < length; i++) {
            double sum = 0;
            double magnitude = 0;
            for (int rank = 0; rank < size; rank++) {
                float value = contributions[rank][i];
                sum += value;
                magnitude += Math.abs(value);
            }
            double expected = sum / size;
            assertEquals(expected, results.get(0)[i], 1e-6 * magnitude + 1e-30, "element " + i);
        }
        for (int rank = 1; rank < size; rank++) {
            assertArrayEquals(results.get(0), results.get(rank), "rank " + rank + " holds the same bits as rank 0");
        }
    }

    private static float[] gaussians(int rank, int length) {
        Random random = new Random(1_000 + rank);
        float[] values = new float[length];
        for (int i = 0; i < length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return values;
    }

    @ParameterizedTest(name = "N={0}")
    @ValueSource(ints = {1, 2, 3, 4, 5})
    void doubleAllReduceEqualsTheSequentialSumAndAverage(int size) throws Exception {
        InProcessGroup group = groups.get(size);
        for (ReduceOp op : ReduceOp.values()) {
            for (int length : lengths(size)) {
                List<double[]> results = group.run(c -> {
                    double[] data = integerDoubles(c.rank(), length);
                    c.allReduce(data, op);
                    return data;
                });
                double[] expected = new double[length];
                for (int rank = 0; rank < size; rank++) {
                    double[] contribution = integerDoubles(rank, length);
                    for (int i = 0; i < length; i++) {
                        expected[i] += contribution[i];
                    }
                }
                if (op == ReduceOp.AVERAGE) {
                    for (int i = 0; i < length; i++) {
                        expected[i] /= size;
                    }
                }
                for (int rank = 0; rank < size; rank++) {
                    assertArrayEquals(expected, results.get(rank), op + " of " + length + " doubles on rank " + rank);
                }
            }
        }
    }

    private static double[] integerDoubles(int rank, int length) {
        Random random = new Random(77 + rank * 13L + length);
        double[] values = new double[length];
        for (int i = 0; i < length; i++) {
            values[i] = random.nextInt(1 << 20) - (1 << 19);
        }
        return values;
    }

    @ParameterizedTest(name = "N={0}")
    @ValueSource(ints = {1, 2, 3, 4, 5})
    void offHeapAndHeapByteBufferAllReduceWorkInPlace(int size) throws Exception {
        InProcessGroup group = groups.get(size);
        int length = MULTI_CHUNK;
        List<float[]> results = group.run(c -> {
            float[] own = integerFloats(c.rank(), length, 5);
            ByteBuffer direct = ByteBuffer.allocateDirect((length + 2) * Float.BYTES).order(ByteOrder.nativeOrder());
            direct.asFloatBuffer().put(1, own, 0, length);
            c.allReduce(direct, 1, length, ReduceOp.SUM);
            ByteBuffer heap = ByteBuffer.allocate(length * Float.BYTES).order(ByteOrder.nativeOrder());
            heap.asFloatBuffer().put(own);
            c.allReduce(heap, 0, length, ReduceOp.SUM);
            float[] fromDirect = new float[length];
            direct.asFloatBuffer().get(1, fromDirect, 0, length);
            float[] fromHeap = new float[length];
            heap.asFloatBuffer().get(fromHeap);
            assertArrayEquals(fromDirect, fromHeap, "direct and heap buffers give the same sum");
            assertEquals(0f, direct.getFloat(0), "the float before the range is untouched");
            return fromDirect;
        });
        float[] expected = new float[length];
        for (int rank = 0; rank < size; rank++) {
            float[] contribution = integerFloats(rank, length, 5);
            for (int i = 0; i < length; i++) {
                expected[i] += contribution[i];
            }
        }
        for (int rank = 0; rank < size; rank++) {
            assertArrayEquals(expected, results.get(rank), "rank " + rank);
        }
    }

    @ParameterizedTest(name = "N={0}")
    @ValueSource(ints = {1, 2, 3, 4, 5})
    void allGatherCollectsVariableSizedContributionsInRankOrder(int size) throws Exception {
        InProcessGroup group = groups.get(size);
        // Rank r contributes r * 4099 bytes: rank 0 nothing, others one to several chunks.
        List<byte[][]> results = group.run(c -> c.allGather(bytesOf(c.rank(), c.rank() * 4_099)));
        for (int rank = 0; rank < size; rank++) {
            byte[][] gathered = results.get(rank);
            assertEquals(size, gathered.length);
            for (int from = 0; from < size; from++) {
                assertArrayEquals(bytesOf(from, from * 4_099), gathered[from], "rank " + rank + " holds rank " + from
                        + "'s contribution");
            }
        }
    }

    private static byte[] bytesOf(int rank, int length) {
        byte[] bytes = new byte[length];
        new Random(rank).nextBytes(bytes);
        return bytes;
    }

    @ParameterizedTest(name = "N={0}")
    @ValueSource(ints = {1, 2, 3, 4, 5})
    void broadcastDeliversTheRootsFloatsAndBytesFromEveryRoot(int size) throws Exception {
        InProcessGroup group = groups.get(size);
        for (int root = 0; root < size; root++) {
            int r = root;
            for (int length : lengths(size)) {
                List<float[]> floats = group.run(c -> {
                    float[] data = integerFloats(c.rank(), length + 2, r);
                    c.broadcast(data, 1, length, r);
                    return data;
                });
                for (int rank = 0; rank < size; rank++) {
                    float[] expected = integerFloats(rank, length + 2, r);
                    System.arraycopy(integerFloats(r, length + 2, r), 1, expected, 1, length);
                    assertArrayEquals(expected, floats.get(rank), "broadcast of " + length + " floats from root " + r
                            + " on rank " + rank);
                }
                List<byte[]> bytes = group.run(c -> c.broadcast(c.rank() == r ? bytesOf(r, length * 3) : null, r));
                for (int rank = 0; rank < size; rank++) {
                    assertArrayEquals(bytesOf(r, length * 3), bytes.get(rank), "broadcast of " + length * 3
                            + " bytes from root " + r + " on rank " + rank);
                }
            }
        }
    }

    @ParameterizedTest(name = "N={0}")
    @ValueSource(ints = {1, 2, 3, 4, 5})
    void barrierReturnsOnlyOnceEveryRankHasEnteredIt(int size) throws Exception {
        InProcessGroup group = groups.get(size);
        long[] entered = new long[size];
        List<Long> leftAt = group.run(c -> {
            // Rank r enters r * 30 ms late; nobody may leave before the last one entered.
            long enter = System.nanoTime() + c.rank() * 30_000_000L;
            while (System.nanoTime() < enter) {
                Thread.onSpinWait();
            }
            synchronized (entered) {
                entered[c.rank()] = System.nanoTime();
            }
            c.barrier();
            return System.nanoTime();
        });
        long lastEntry;
        synchronized (entered) {
            lastEntry = Arrays.stream(entered).max().orElseThrow();
        }
        for (int rank = 0; rank < size; rank++) {
            assertTrue(leftAt.get(rank) >= lastEntry, "rank " + rank + " left the barrier before the last rank entered");
        }
    }

    @ParameterizedTest(name = "N={0}")
    @ValueSource(ints = {2, 5})
    void statsCountTheTrafficOfTheRing(int size) throws Exception {
        InProcessGroup group = groups.get(size);
        int length = 100_000;
        List<CollectiveStats> deltas = group.run(c -> {
            CollectiveStats before = c.stats();
            c.allReduce(new float[length], ReduceOp.SUM);
            return c.stats().minus(before);
        });
        long payload = 2L * (size - 1) * length / size * Float.BYTES;
        for (CollectiveStats delta : deltas) {
            assertEquals(1, delta.operations());
            assertTrue(delta.bytesSent() >= payload && delta.bytesSent() < payload * 11 / 10 + 4096,
                    "sent " + delta.bytesSent() + " bytes for a ring payload of " + payload);
            assertTrue(delta.bytesReceived() >= payload, "received " + delta.bytesReceived());
            assertEquals(0, delta.rejectedFrames());
        }
    }
}
