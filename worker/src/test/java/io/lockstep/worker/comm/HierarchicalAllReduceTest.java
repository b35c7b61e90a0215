package io.lockstep.worker.comm;

import org.agrona.concurrent.SystemNanoClock;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The hierarchical all-reduce on real media drivers: four ranks as two "hosts" of two inside this JVM.
 * Each host has its own media driver and {@link CollectiveConfig#hostId()} (all bind to 127.0.0.1), so
 * links within a host are IPC and links across hosts UDP, as on a real cluster. Ranks 0 and 2 run on
 * host-a, ranks 1 and 3 on host-b: a host's ranks are deliberately not contiguous in rank order.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HierarchicalAllReduceTest {
    private static final int[] LENGTHS = {0, 1, 3, 4, 5, 1_009, 25_013};
    private static final String[] HOST_OF_RANK = {"host-a", "host-b", "host-a", "host-b"};

    private final List<Path> driverRoots = new ArrayList<>();
    private ThreadRanks hierarchical;
    private ThreadRanks flat;

    @BeforeAll
    void openGroups() throws Exception {
        for (int host = 0; host < 2; host++) {
            driverRoots.add(Files.createTempDirectory("lockstep-host" + host + "-"));
        }
        hierarchical = twoHostsOfTwo("hier", InProcessGroup.testConfig());
        flat = twoHostsOfTwo("flat", InProcessGroup.testConfig().allReduceTopology(AllReduceTopology.FLAT));
    }

    @AfterAll
    void closeGroups() throws Exception {
        for (ThreadRanks group : new ThreadRanks[]{hierarchical, flat}) {
            if (group != null) {
                group.close();
            }
        }
    }

    /** Two hosts of two ranks, each host with its own address and media driver. */
    private ThreadRanks twoHostsOfTwo(String jobId, CollectiveConfig.Builder base) throws Exception {
        return twoHosts(jobId, base, HOST_OF_RANK.length);
    }

    /** {@code size} ranks, alternately on two hosts, each host with its own address and media driver. */
    private ThreadRanks twoHosts(String jobId, CollectiveConfig.Builder base, int size) throws Exception {
        List<CollectiveConfig> configs = new ArrayList<>();
        for (int rank = 0; rank < size; rank++) {
            configs.add(base.hostId(HOST_OF_RANK[rank % 2])
                    .driverDirectoryRoot(driverRoots.get(rank % 2).toString()).build());
        }
        return ThreadRanks.open(configs, jobId, InProcessGroup.secret(7), 0, SystemNanoClock.INSTANCE,
                InProcessGroup.WAIT_SECONDS * 1000, jobId + "-rank-");
    }

    private interface RankTask<T> {
        T run(AeronCollective collective) throws Exception;
    }

    private static <T> List<T> run(ThreadRanks group, RankTask<T> task) throws Exception {
        List<Future<T>> futures = group.start(c -> {
            try {
                return task.run(c);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        List<T> results = new ArrayList<>();
        for (int rank = 0; rank < futures.size(); rank++) {
            try {
                results.add(group.await(futures.get(rank)));
            } catch (ExecutionException e) {
                throw new AssertionError("rank " + rank + " failed: " + e.getCause(), e.getCause());
            }
        }
        return results;
    }

    private static float[] randomFloats(int rank, int length, long seed) {
        Random random = new Random(seed * 31 + rank);
        float[] values = new float[length];
        for (int i = 0; i < length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return values;
    }

    @Test
    void bothGroupsTookTheShapeTheirTopologyAsksFor() {
        for (int rank = 0; rank < 4; rank++) {
            HostLayout layout = hierarchical.rank(rank).hostLayout();
            assertTrue(layout.hierarchical(), layout.reason());
            assertEquals(2, layout.hosts());
            assertEquals(2, layout.perHost());
            assertFalse(flat.rank(rank).hostLayout().hierarchical(), flat.rank(rank).hostLayout().reason());
        }
    }

    @Test
    void sumAndAverageAreBitIdenticalOnEveryRankAndMatchTheFlatRing() throws Exception {
        for (ReduceOp op : ReduceOp.values()) {
            for (int length : LENGTHS) {
                long seed = length * 13L + op.ordinal();
                List<float[]> tree = run(hierarchical, c -> {
                    float[] data = randomFloats(c.rank(), length + 4, seed);
                    c.allReduce(data, 2, length, op);
                    return data;
                });
                List<float[]> ring = run(flat, c -> {
                    float[] data = randomFloats(c.rank(), length + 4, seed);
                    c.allReduce(data, 2, length, op);
                    return data;
                });
                float[] reduced = Arrays.copyOfRange(tree.get(0), 2, length + 2);
                for (int rank = 0; rank < 4; rank++) {
                    assertArrayEquals(reduced, Arrays.copyOfRange(tree.get(rank), 2, length + 2),
                            "bit-identical on rank " + rank + ", " + op + ", length " + length);
                    float[] own = randomFloats(rank, length + 4, seed);
                    for (int i : new int[]{0, 1, length + 2, length + 3}) {
                        assertEquals(own[i], tree.get(rank)[i], "untouched outside the range at " + i);
                    }
                }
                assertArrayEquals(Arrays.copyOfRange(ring.get(0), 2, length + 2), reduced, 1e-5f,
                        op + ", length " + length);
            }
        }
    }

    @Test
    void doublesAndOffHeapBuffersTakeTheSamePath() throws Exception {
        int length = 1_009;
        List<double[]> doubles = run(hierarchical, c -> {
            double[] data = new double[length];
            for (int i = 0; i < length; i++) {
                data[i] = c.rank() * 1_000.0 + i + 0.25;
            }
            c.allReduce(data, ReduceOp.AVERAGE);
            return data;
        });
        for (int rank = 0; rank < 4; rank++) {
            for (int i = 0; i < length; i++) {
                assertEquals(1_500.0 + i + 0.25, doubles.get(rank)[i], 1e-9, "rank " + rank + " element " + i);
            }
        }
        List<float[]> direct = run(hierarchical, c -> {
            java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocateDirect(length * Float.BYTES)
                    .order(java.nio.ByteOrder.nativeOrder());
            for (int i = 0; i < length; i++) {
                buffer.putFloat(i * Float.BYTES, c.rank() + i);
            }
            c.allReduce(buffer, 0, length, ReduceOp.SUM);
            float[] result = new float[length];
            buffer.asFloatBuffer().get(result);
            return result;
        });
        for (int rank = 0; rank < 4; rank++) {
            for (int i = 0; i < length; i++) {
                assertEquals(6 + 4f * i, direct.get(rank)[i], "rank " + rank + " element " + i);
            }
        }
    }

    @Test
    void bf16GradientsAreBitIdenticalAndCloseToTheFlatRing() throws Exception {
        for (int length : new int[]{3, 1_009, 25_013}) {
            long seed = length * 17L;
            List<float[]> tree = run(hierarchical, c -> {
                float[] data = randomFloats(c.rank(), length, seed);
                c.allReduce(data, 0, length, ReduceOp.AVERAGE, WireCompression.BF16);
                return data;
            });
            List<float[]> ring = run(flat, c -> {
                float[] data = randomFloats(c.rank(), length, seed);
                c.allReduce(data, 0, length, ReduceOp.AVERAGE, WireCompression.BF16);
                return data;
            });
            for (int rank = 0; rank < 4; rank++) {
                assertArrayEquals(tree.get(0), tree.get(rank), "bit-identical on rank " + rank + ", length " + length);
            }
            float[] exact = new float[length];
            for (int rank = 0; rank < 4; rank++) {
                float[] own = randomFloats(rank, length, seed);
                for (int i = 0; i < length; i++) {
                    exact[i] += own[i] / 4;
                }
            }
            for (int i = 0; i < length; i++) {
                assertEquals(0f, Float.intBitsToFloat(Float.floatToRawIntBits(tree.get(0)[i]) & 0xFFFF),
                        "element " + i + " is a bf16 value");
                // bf16 keeps 8 significant bits; the ring narrows partial sums too, so allow a few ulps of bf16.
                float tolerance = 0.03f * Math.max(1f, Math.abs(exact[i]));
                assertEquals(exact[i], tree.get(0)[i], tolerance, "hierarchical, element " + i);
                assertEquals(ring.get(0)[i], tree.get(0)[i], 2 * tolerance, "against the flat ring, element " + i);
            }
        }
    }

    @Test
    void encryptedLinksCarryTheHierarchicalSum() throws Exception {
        try (ThreadRanks encrypted = twoHostsOfTwo("hier-encrypt",
                InProcessGroup.testConfig().wireSecurity(WireSecurity.ENCRYPT))) {
            assertEveryRankSumsRankMultiples(encrypted, 4);
            for (int rank = 0; rank < 4; rank++) {
                assertEquals(0, encrypted.rank(rank).stats().unauthenticFrames());
                assertTrue(encrypted.rank(rank).hostLayout().hierarchical());
            }
        }
    }

    /** Host rings of three: under {@code auth} their all-gather sends frames on under the owner's seal. */
    @Test
    void authenticatedHostRingsOfThreeForwardFramesUnderTheirOwnersSeal() throws Exception {
        int size = 6;
        try (ThreadRanks sealed = twoHosts("hier-auth",
                InProcessGroup.testConfig().wireSecurity(WireSecurity.AUTHENTICATE), size)) {
            assertEveryRankSumsRankMultiples(sealed, size);
            for (int rank = 0; rank < size; rank++) {
                CollectiveStats stats = sealed.rank(rank).stats();
                assertEquals(0, stats.unauthenticFrames());
                assertTrue(stats.forwardedFrames() > 0, "rank " + rank + " forwards in its host's all-gather");
                assertEquals("hierarchical 2x3", sealed.rank(rank).allReducePath(), "rank " + rank);
            }
        }
    }

    /** Rank r contributes (r + 1)·(i mod 97) at element i: every rank must end with the sum over ranks. */
    private static void assertEveryRankSumsRankMultiples(ThreadRanks group, int size) throws Exception {
        int length = 5_003;
        List<float[]> results = run(group, c -> {
            float[] data = new float[length];
            for (int i = 0; i < length; i++) {
                data[i] = (c.rank() + 1) * (i % 97);
            }
            c.allReduce(data, ReduceOp.SUM);
            return data;
        });
        float rankSum = size * (size + 1) / 2f;
        for (int rank = 0; rank < size; rank++) {
            for (int i = 0; i < length; i++) {
                assertEquals(rankSum * (i % 97), results.get(rank)[i], "rank " + rank + " element " + i);
            }
        }
    }

    @Test
    void aRankThatLeavesIsNamedByThePeersOfEveryRing() throws Exception {
        try (ThreadRanks group = twoHostsOfTwo("hier-leave", InProcessGroup.testConfig().operationTimeoutMs(60_000))) {
            run(group, c -> {
                c.allReduce(new float[100], ReduceOp.SUM);
                return null;
            });
            AeronCollective leaving = group.rank(3);
            group.submit(3, () -> {
                leaving.close();
                return null;
            }).get(InProcessGroup.WAIT_SECONDS, TimeUnit.SECONDS);
            List<Future<Object>> reducing = new ArrayList<>();
            for (int rank = 0; rank < 3; rank++) {
                AeronCollective collective = group.rank(rank);
                reducing.add(group.submit(rank, () -> {
                    collective.allReduce(new float[1_000], ReduceOp.SUM);
                    return null;
                }));
            }
            for (int rank = 0; rank < 3; rank++) {
                Future<Object> future = reducing.get(rank);
                ExecutionException failure = assertThrows(ExecutionException.class,
                        () -> future.get(InProcessGroup.WAIT_SECONDS, TimeUnit.SECONDS));
                PeerLostException lost = assertInstanceOf(PeerLostException.class, failure.getCause(),
                        String.valueOf(failure.getCause()));
                assertTrue(lost.lostRanks().contains(3), "rank " + rank + ": " + lost.getMessage());
            }
        }
    }
}
