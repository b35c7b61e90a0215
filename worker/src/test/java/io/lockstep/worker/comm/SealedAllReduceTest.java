package io.lockstep.worker.comm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The ring all-reduce over sealed UDP links. Under {@code auth} the all-gather sends frames on under the seal of
 * the segment's owner: the results must be bit for bit those of unsealed links — for the values that stress the
 * re-encoding a forwarding rank does (NaN, infinities, signed zeros, subnormals, values fp16 overflows) — every
 * frame after the owner's must go on unchanged, and no rank may refuse one. Rings of 3 and 4; frames fragmented
 * by Aeron (verified where the assembler rebuilt them) and frames that fit one Aeron frame (copied out of the
 * log buffer first).
 */
class SealedAllReduceTest {
    private static final int LENGTH = 9_001;

    static Stream<Arguments> rings() {
        return Stream.of(
                Arguments.of(3, WireCompression.NONE, true),
                Arguments.of(4, WireCompression.FP16, false),
                Arguments.of(4, WireCompression.BF16, true),
                Arguments.of(4, WireCompression.NONE, false));
    }

    private static CollectiveConfig config(WireCompression compression, boolean fragmented, WireSecurity security) {
        return InProcessGroup.testConfig().transport(TransportMode.UDP)
                .mtuBytes(fragmented ? 1408 : 8192).chunkBytes(4096)
                .wireCompression(compression).wireSecurity(security).build();
    }

    private static float[] awkwardValues(int rank) {
        Random random = new Random(900 + rank);
        float[] special = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -0f, 0f, Float.MIN_VALUE,
                1e-40f, 6e-8f, -3e-5f, 7e4f, -7e4f, 65504f};
        float[] values = new float[LENGTH];
        for (int i = 0; i < LENGTH; i++) {
            values[i] = random.nextInt(50) == 0 ? special[random.nextInt(special.length)]
                    : (float) random.nextGaussian() * 100f;
        }
        return values;
    }

    private static double[] awkwardDoubles(int rank) {
        float[] floats = awkwardValues(rank);
        double[] values = new double[LENGTH];
        for (int i = 0; i < LENGTH; i++) {
            values[i] = floats[i] == 1e-40f ? Double.MIN_VALUE : floats[i] / 3.0;
        }
        return values;
    }

    private record Results(List<float[]> sums, List<float[]> averages, List<double[]> doubles, long forwarded,
                           long unauthentic, long rejected) {
    }

    private static Results allReduce(int size, CollectiveConfig config) throws Exception {
        try (InProcessGroup group = InProcessGroup.open(size, config)) {
            List<float[]> sums = group.run(c -> {
                float[] data = awkwardValues(c.rank());
                c.allReduce(data, ReduceOp.SUM);
                return data;
            });
            List<float[]> averages = group.run(c -> {
                float[] data = awkwardValues(c.rank());
                c.allReduce(data, ReduceOp.AVERAGE);
                return data;
            });
            List<double[]> doubles = group.run(c -> {
                double[] data = awkwardDoubles(c.rank());
                c.allReduce(data, ReduceOp.SUM);
                return data;
            });
            long forwarded = 0;
            long unauthentic = 0;
            long rejected = 0;
            for (int rank = 0; rank < size; rank++) {
                CollectiveStats stats = group.rank(rank).stats();
                forwarded += stats.forwardedFrames();
                unauthentic += stats.unauthenticFrames();
                rejected += stats.rejectedFrames();
            }
            return new Results(sums, averages, doubles, forwarded, unauthentic, rejected);
        }
    }

    /** Frames a ring of {@code size} forwards in one all-reduce: every segment's chunks, at N − 2 steps. */
    private static long forwardedPerAllReduce(int size, int valueBytes) {
        int chunkValues = 4096 / valueBytes;
        long chunks = 0;
        for (int segment = 0; segment < size; segment++) {
            int segmentLength = RingAllReduce.segmentStart(LENGTH, size, segment + 1)
                    - RingAllReduce.segmentStart(LENGTH, size, segment);
            chunks += (segmentLength + chunkValues - 1) / chunkValues;
        }
        return (size - 2) * chunks;
    }

    @ParameterizedTest(name = "ring of {0}, {1}, fragmented {2}")
    @MethodSource("rings")
    void authenticatedAllGatherForwardsTheOwnersSealAndChangesNoBit(int size, WireCompression compression,
                                                                   boolean fragmented) throws Exception {
        Results plain = allReduce(size, config(compression, fragmented, WireSecurity.OFF));
        Results sealed = allReduce(size, config(compression, fragmented, WireSecurity.AUTHENTICATE));
        for (int rank = 0; rank < size; rank++) {
            assertArrayEquals(plain.sums().get(0), sealed.sums().get(rank), "sum on rank " + rank);
            assertArrayEquals(plain.averages().get(0), sealed.averages().get(rank), "average on rank " + rank);
            assertArrayEquals(plain.doubles().get(0), sealed.doubles().get(rank), "fp64 sum on rank " + rank);
        }
        int floatBytes = compression == WireCompression.NONE ? Float.BYTES : 2;
        assertEquals(2 * forwardedPerAllReduce(size, floatBytes) + forwardedPerAllReduce(size, Double.BYTES),
                sealed.forwarded(), "every all-gather frame after the owner's goes on under the owner's seal");
        assertEquals(0, sealed.unauthentic());
        assertEquals(0, sealed.rejected());
        assertEquals(0, plain.forwarded(), "unsealed links have no seal to forward");
    }

    /** Buffers shorter than the ring leave segments empty: no chunk to forward there, the others still go on. */
    @Test
    void authenticatedAllReducesOfFewerValuesThanRanksAreExact() throws Exception {
        int size = 4;
        try (InProcessGroup group = InProcessGroup.open(size, config(WireCompression.NONE, false,
                WireSecurity.AUTHENTICATE))) {
            for (int length : new int[]{0, 1, 2, 3, 5}) {
                List<float[]> sums = group.run(c -> {
                    float[] data = new float[length];
                    for (int i = 0; i < length; i++) {
                        data[i] = (c.rank() + 1) * (i + 1);
                    }
                    c.allReduce(data, ReduceOp.SUM);
                    return data;
                });
                float[] expected = new float[length];
                for (int i = 0; i < length; i++) {
                    expected[i] = 10f * (i + 1);
                }
                for (int rank = 0; rank < size; rank++) {
                    assertArrayEquals(expected, sums.get(rank), length + " values, rank " + rank);
                }
            }
            long forwarded = 0;
            for (int rank = 0; rank < size; rank++) {
                assertEquals(0, group.rank(rank).stats().unauthenticFrames());
                forwarded += group.rank(rank).stats().forwardedFrames();
            }
            // Each non-empty segment is one chunk, forwarded at 2 steps; 0, 1, 2, 3 and 4 segments are non-empty.
            assertEquals(2 * (0 + 1 + 2 + 3 + 4), forwarded);
        }
    }

    @Test
    void encryptedLinksSealEveryHopAndGiveTheSameBits() throws Exception {
        int size = 4;
        WireCompression compression = WireCompression.FP16;
        boolean fragmented = true;
        Results plain = allReduce(size, config(compression, fragmented, WireSecurity.OFF));
        Results encrypted = allReduce(size, config(compression, fragmented, WireSecurity.ENCRYPT));
        for (int rank = 0; rank < size; rank++) {
            assertArrayEquals(plain.sums().get(0), encrypted.sums().get(rank), "sum on rank " + rank);
            assertArrayEquals(plain.doubles().get(0), encrypted.doubles().get(rank), "fp64 sum on rank " + rank);
        }
        assertEquals(0, encrypted.forwarded(), "ciphertext is re-encrypted at every hop");
        assertEquals(0, encrypted.unauthentic());
    }
}
