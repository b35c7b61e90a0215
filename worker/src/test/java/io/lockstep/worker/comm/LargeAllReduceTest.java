package io.lockstep.worker.comm;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** A buffer of 10M+ floats (40 MB, about ResNet-18's gradients) with production chunk sizes. */
class LargeAllReduceTest {
    private static final int LENGTH = 10_000_019;

    private static float[] integers(int rank) {
        SplittableRandom random = new SplittableRandom(rank + 1);
        float[] values = new float[LENGTH];
        for (int i = 0; i < LENGTH; i++) {
            values[i] = random.nextInt(2001) - 1000;
        }
        return values;
    }

    @ParameterizedTest(name = "N={0} over {1}")
    @CsvSource({"3, AUTO", "2, UDP"})
    void tenMillionFloatsAverageExactly(int size, TransportMode transport) throws Exception {
        CollectiveConfig config = InProcessGroup.testConfig().transport(transport).termLengthBytes(8 * 1024 * 1024)
                .chunkBytes(64 * 1024).build();
        try (InProcessGroup group = InProcessGroup.open(size, config)) {
            List<float[]> results = group.run(c -> {
                float[] data = integers(c.rank());
                c.allReduce(data, ReduceOp.AVERAGE);
                return data;
            });
            float[] expected = integers(0);
            for (int rank = 1; rank < size; rank++) {
                float[] contribution = integers(rank);
                for (int i = 0; i < LENGTH; i++) {
                    expected[i] += contribution[i];
                }
            }
            for (int i = 0; i < LENGTH; i++) {
                expected[i] /= size;
            }
            for (int rank = 0; rank < size; rank++) {
                float[] result = results.get(rank);
                for (int i = 0; i < LENGTH; i++) {
                    if (expected[i] != result[i]) {
                        assertEquals(expected[i], result[i], "element " + i + " on rank " + rank);
                    }
                }
            }
        }
    }
}
