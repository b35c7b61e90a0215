package io.lockstep.worker.comm;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The UDP path inside one JVM (ranks forced onto UDP loopback), with 4 KiB chunks above a 1408-byte MTU
 * so every frame is fragmented by Aeron and reassembled, and fp16/bf16 wire compression.
 */
class UdpAndCompressionTest {
    private static final int SIZE = 3;
    private static final int LENGTH = 20_011;

    private static CollectiveConfig udp(WireCompression compression) {
        return InProcessGroup.testConfig().transport(TransportMode.UDP).mtuBytes(1408).chunkBytes(4096)
                .wireCompression(compression).build();
    }

    private static float[] smallIntegers(int rank) {
        Random random = new Random(500 + rank);
        float[] values = new float[LENGTH];
        for (int i = 0; i < LENGTH; i++) {
            values[i] = random.nextInt(161) - 80;
        }
        return values;
    }

    @ParameterizedTest
    @EnumSource(WireCompression.class)
    void everyOperationIsExactOverUdpForValuesTheWireFormatHoldsExactly(WireCompression compression) throws Exception {
        try (InProcessGroup group = InProcessGroup.open(SIZE, udp(compression))) {
            // |sums| <= 240: integers that fp16 and bf16 represent exactly, so compression loses nothing.
            List<float[]> sums = group.run(c -> {
                float[] data = smallIntegers(c.rank());
                c.allReduce(data, ReduceOp.SUM);
                return data;
            });
            float[] expected = new float[LENGTH];
            for (int rank = 0; rank < SIZE; rank++) {
                float[] contribution = smallIntegers(rank);
                for (int i = 0; i < LENGTH; i++) {
                    expected[i] += contribution[i];
                }
            }
            for (int rank = 0; rank < SIZE; rank++) {
                assertArrayEquals(expected, sums.get(rank), compression + " sum on rank " + rank);
            }
            List<byte[][]> gathered = group.run(c -> c.allGather(new byte[c.rank() * 5_000]));
            for (byte[][] blocks : gathered) {
                for (int from = 0; from < SIZE; from++) {
                    assertTrue(blocks[from].length == from * 5_000);
                }
            }
            List<float[]> broadcast = group.run(c -> {
                float[] data = smallIntegers(c.rank());
                c.broadcast(data, 0, LENGTH, 2);
                return data;
            });
            for (float[] received : broadcast) {
                assertArrayEquals(smallIntegers(2), received, "broadcast is never compressed");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = WireCompression.class, names = {"FP16", "BF16"})
    void compressedAverageStaysWithinTheRoundingBoundAndIsIdenticalOnEveryRank(WireCompression compression)
            throws Exception {
        // Each of the N-1 reduce-scatter hops and the final rounding err by at most half an ulp of the wire
        // format relative to a partial sum, and every partial sum is bounded by the sum of magnitudes.
        double unitRoundoff = compression == WireCompression.FP16 ? 0x1p-11 : 0x1p-8;
        double subnormalStep = compression == WireCompression.FP16 ? 0x1p-24 : 0;
        try (InProcessGroup group = InProcessGroup.open(SIZE, udp(compression))) {
            List<float[]> results = group.run(c -> {
                float[] data = gradients(c.rank());
                c.allReduce(data, ReduceOp.AVERAGE);
                return data;
            });
            float[][] contributions = new float[SIZE][];
            for (int rank = 0; rank < SIZE; rank++) {
                contributions[rank] = gradients(rank);
            }
            double worstRatio = 0;
            for (int i = 0; i < LENGTH; i++) {
                double sum = 0;
                double magnitude = 0;
                for (float[] contribution : contributions) {
                    sum += contribution[i];
                    magnitude += Math.abs(contribution[i]);
                }
                double bound = (SIZE * unitRoundoff * magnitude + SIZE * subnormalStep) / SIZE + 1e-7 * magnitude;
                double error = Math.abs(results.get(0)[i] - sum / SIZE);
                assertTrue(error <= bound, compression + " element " + i + ": error " + error + " above bound " + bound);
                worstRatio = Math.max(worstRatio, error / bound);
            }
            assertTrue(worstRatio > 0, "compression must have rounded something: is it really on?");
            for (int rank = 1; rank < SIZE; rank++) {
                assertArrayEquals(results.get(0), results.get(rank), "rank " + rank + " holds rank 0's bits");
            }
        }
    }

    /** Gradient-like values: mostly small, some large, a few tiny (fp16 subnormals). */
    private static float[] gradients(int rank) {
        Random random = new Random(900 + rank);
        float[] values = new float[LENGTH];
        for (int i = 0; i < LENGTH; i++) {
            double scale = switch (i % 10) {
                case 0 -> 100;
                case 1 -> 1e-6;
                default -> 0.01;
            };
            values[i] = (float) (random.nextGaussian() * scale);
        }
        return values;
    }
}
