package io.lockstep.worker.comm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The all-reduce through shared memory among ranks of one host ({@link SharedMemoryAllReduce}): results
 * bit-identical on every rank and equal to the sum in rank order (which is how each shard's owner sums), close
 * to the ring's, for lengths around every boundary (empty, below N, shard edges, the whole-buffer threshold);
 * segments reused over many operations of varying length and type; peers that leave or never come named.
 * Ranks are threads of this JVM; {@link MultiProcessCollectiveTest} runs it across JVMs.
 */
class SharedMemoryAllReduceTest {
    /** Boundaries: empty, fewer values than ranks, shard edges, 64 KiB (whole-buffer threshold), the brief's top. */
    private static final int[] LENGTHS = {0, 1, 2, 3, 4, 5, 7, 64, 1_000, 4_095, 4_096, 16_383, 16_384, 16_385,
            16_387, 20_000, 25_013};

    private static CollectiveConfig.Builder sharedConfig(Path directory) {
        return InProcessGroup.testConfig().sharedMemory(true).sharedMemoryDirectory(directory.toString());
    }

    private static float[] values(int rank, int length, long salt) {
        Random random = new Random(rank * 7_919L + length * 31L + salt);
        float[] values = new float[length];
        for (int i = 0; i < length; i++) {
            values[i] = random.nextFloat() * 2 - 1;
        }
        return values;
    }

    /** What each shard's owner computes: the sum in rank order, then the division. */
    private static float[] reference(int size, int length, long salt, ReduceOp op) {
        float[] sum = values(0, length, salt);
        for (int rank = 1; rank < size; rank++) {
            float[] part = values(rank, length, salt);
            for (int i = 0; i < length; i++) {
                sum[i] += part[i];
            }
        }
        if (op == ReduceOp.AVERAGE) {
            float by = size;
            for (int i = 0; i < length; i++) {
                sum[i] /= by;
            }
        }
        return sum;
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3, 4})
    void everyRankHoldsTheSameSumAsTheRingToWithinRounding(int size, @TempDir Path directory) throws Exception {
        try (InProcessGroup shared = InProcessGroup.open(size, sharedConfig(directory).build());
             InProcessGroup ring = InProcessGroup.open(size, InProcessGroup.testConfig().build(), "ring-" + size, 43L,
                     0L, org.agrona.concurrent.SystemNanoClock.INSTANCE)) {
            assertTrue(shared.rank(0).allReducePath().startsWith("shared memory"), shared.rank(0).allReducePath());
            assertEquals("flat ring", ring.rank(0).allReducePath());
            for (ReduceOp op : ReduceOp.values()) {
                for (int length : LENGTHS) {
                    List<float[]> viaShared = shared.run(c -> {
                        float[] data = values(c.rank(), length, 1);
                        c.allReduce(data, op);
                        return data;
                    });
                    List<float[]> viaRing = ring.run(c -> {
                        float[] data = values(c.rank(), length, 1);
                        c.allReduce(data, op);
                        return data;
                    });
                    float[] expected = reference(size, length, 1, op);
                    for (int rank = 0; rank < size; rank++) {
                        assertArrayEquals(expected, viaShared.get(rank), op + " of " + length + " on rank " + rank);
                        for (int i = 0; i < length; i++) {
                            if (Math.abs(viaShared.get(rank)[i] - viaRing.get(rank)[i]) > 1e-5f) {
                                fail(op + " of " + length + ", element " + i + " on rank " + rank + ": shared memory "
                                        + viaShared.get(rank)[i] + ", ring " + viaRing.get(rank)[i]);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void doublesOffHeapBuffersAndCompressedCallsAreBitIdenticalAcrossRanks(@TempDir Path directory) throws Exception {
        int size = 3;
        try (InProcessGroup group = InProcessGroup.open(size, sharedConfig(directory).build())) {
            for (int length : new int[]{0, 2, 9_000, 25_013}) {
                List<double[]> doubles = group.run(c -> {
                    double[] data = new double[length];
                    for (int i = 0; i < length; i++) {
                        data[i] = (c.rank() + 1) * 0.1 + i;
                    }
                    c.allReduce(data, 0, length, ReduceOp.AVERAGE);
                    return data;
                });
                for (int rank = 0; rank < size; rank++) {
                    assertArrayEquals(doubles.get(0), doubles.get(rank), "doubles on rank " + rank);
                    for (int i = 0; i < length; i++) {
                        assertEquals(0.2 + i, doubles.get(rank)[i], 1e-9, "double average");
                    }
                }
                List<float[]> offHeap = group.run(c -> {
                    ByteBuffer buffer = ByteBuffer.allocateDirect(4 * (length + 3)).order(ByteOrder.nativeOrder());
                    float[] mine = values(c.rank(), length, 2);
                    buffer.position(12);
                    buffer.asFloatBuffer().put(mine);
                    buffer.clear();
                    c.allReduce(buffer, 3, length, ReduceOp.SUM);
                    float[] result = new float[length];
                    buffer.position(12);
                    buffer.asFloatBuffer().get(result);
                    return result;
                });
                float[] expected = reference(size, length, 2, ReduceOp.SUM);
                for (int rank = 0; rank < size; rank++) {
                    assertArrayEquals(expected, offHeap.get(rank), "off-heap sum on rank " + rank);
                }
                List<float[]> narrowed = group.run(c -> {
                    float[] data = values(c.rank(), length, 3);
                    c.allReduce(data, 0, length, ReduceOp.AVERAGE, WireCompression.BF16);
                    return data;
                });
                float[] exact = reference(size, length, 3, ReduceOp.AVERAGE);
                for (int rank = 0; rank < size; rank++) {
                    assertArrayEquals(narrowed.get(0), narrowed.get(rank), "bf16 result on rank " + rank);
                    for (int i = 0; i < length; i++) {
                        float value = narrowed.get(rank)[i];
                        assertEquals(HalfFloats.fromBfloat16(HalfFloats.toBfloat16(value)), value,
                                "a compressed call delivers values of the wire precision, as the ring does");
                        assertEquals(exact[i], value, Math.abs(exact[i]) / 128 + 1e-6f, "bf16 average");
                    }
                }
            }
        }
    }

    @Test
    void manyBackToBackOperationsOfVaryingLengthReuseTheSegments(@TempDir Path directory) throws Exception {
        int size = 4;
        int operations = 300;
        Random plan = new Random(20_261_202L);
        int[] lengths = new int[operations];
        ReduceOp[] ops = new ReduceOp[operations];
        for (int k = 0; k < operations; k++) {
            // Mostly small (whole-buffer path), some large (sharded path), now and then larger than ever before.
            lengths[k] = plan.nextInt(4) == 0 ? plan.nextInt(25_014) : plan.nextInt(300);
            ops[k] = plan.nextBoolean() ? ReduceOp.SUM : ReduceOp.AVERAGE;
        }
        lengths[operations - 1] = 60_000;
        try (InProcessGroup group = InProcessGroup.open(size, sharedConfig(directory).build())) {
            List<List<float[]>> results = group.run(c -> {
                List<float[]> mine = new ArrayList<>();
                for (int k = 0; k < operations; k++) {
                    float[] data = values(c.rank(), lengths[k], k);
                    c.allReduce(data, ops[k]);
                    mine.add(data);
                }
                return mine;
            });
            for (int k = 0; k < operations; k++) {
                float[] expected = reference(size, lengths[k], k, ops[k]);
                for (int rank = 0; rank < size; rank++) {
                    assertArrayEquals(expected, results.get(rank).get(k), "operation " + k + " (" + ops[k] + " of "
                            + lengths[k] + ") on rank " + rank);
                }
            }
        }
    }

    @Test
    void segmentsAreOwnerOnlyFilesRemovedAtClose(@TempDir Path directory) throws Exception {
        try (InProcessGroup group = InProcessGroup.open(2, sharedConfig(directory).build())) {
            group.run(c -> {
                c.allReduce(new float[50_000], ReduceOp.SUM);
                return null;
            });
            List<Path> files;
            try (Stream<Path> listing = Files.list(directory)) {
                files = listing.toList();
            }
            assertEquals(2, files.size(), files.toString());
            for (Path file : files) {
                assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)), file.toString());
                assertTrue(Files.size(file) >= 50_000 * 4, "the segment grew to hold the operation: " + file);
            }
        }
        try (Stream<Path> listing = Files.list(directory)) {
            assertEquals(List.of(), listing.toList(), "every rank deletes its segment when it closes");
        }
    }

    @Test
    void aRankThatNeverArrivesIsNamedAtTheDeadline(@TempDir Path directory) throws Exception {
        CollectiveConfig config = sharedConfig(directory).operationTimeoutMs(2_000).heartbeatIntervalMs(100).build();
        try (InProcessGroup group = InProcessGroup.open(3, config)) {
            List<Future<?>> waiting = new ArrayList<>();
            for (int rank = 0; rank < 2; rank++) {
                AeronCollective collective = group.rank(rank);
                waiting.add(group.submit(rank, () -> {
                    collective.allReduce(new float[30_000], ReduceOp.SUM);
                    return null;
                }));
            }
            for (int rank = 0; rank < 2; rank++) {
                CollectiveTimeoutException timeout = assertInstanceOf(CollectiveTimeoutException.class,
                        failureOf(waiting.get(rank)));
                assertEquals(List.of(2), timeout.silentRanks(), timeout.getMessage());
                assertTrue(timeout.getMessage().contains("shared memory"), timeout.getMessage());
            }
        }
    }

    @Test
    void aRankThatLeavesFailsItsPeersAtOnceNamingIt(@TempDir Path directory) throws Exception {
        CollectiveConfig config = sharedConfig(directory).operationTimeoutMs(60_000).build();
        try (InProcessGroup group = InProcessGroup.open(3, config)) {
            group.run(c -> {
                c.allReduce(new float[100], ReduceOp.SUM);
                return null;
            });
            AeronCollective leaving = group.rank(2);
            group.submit(2, () -> {
                leaving.close();
                return null;
            }).get(InProcessGroup.WAIT_SECONDS, TimeUnit.SECONDS);
            long start = System.nanoTime();
            for (int rank = 0; rank < 2; rank++) {
                AeronCollective collective = group.rank(rank);
                PeerLostException lost = assertInstanceOf(PeerLostException.class, failureOf(group.submit(rank, () -> {
                    collective.allReduce(new float[20_000], ReduceOp.SUM);
                    return null;
                })));
                assertEquals(List.of(2), lost.lostRanks(), lost.getMessage());
            }
            assertTrue(System.nanoTime() - start < TimeUnit.MILLISECONDS.toNanos(config.operationTimeoutMs()),
                    "the peers failed before the deadline, as soon as rank 2's streams ended");
        }
    }

    @Test
    void ranksThatDisagreeOnTheLengthFailNamingThePeer(@TempDir Path directory) throws Exception {
        try (InProcessGroup group = InProcessGroup.open(2, sharedConfig(directory).build())) {
            List<Future<?>> calls = new ArrayList<>();
            for (int rank = 0; rank < 2; rank++) {
                AeronCollective collective = group.rank(rank);
                int length = 1_000 + rank;
                calls.add(group.submit(rank, () -> {
                    collective.allReduce(new float[length], ReduceOp.SUM);
                    return null;
                }));
            }
            for (int rank = 0; rank < 2; rank++) {
                Throwable failure = failureOf(calls.get(rank));
                assertInstanceOf(CollectiveException.class, failure);
                assertTrue(failure.getMessage().contains("rank " + (1 - rank)), failure.getMessage());
            }
        }
    }

    private static Throwable failureOf(Future<?> future) throws Exception {
        try {
            future.get(InProcessGroup.WAIT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            return e.getCause();
        }
        return fail("expected the call to fail");
    }
}
