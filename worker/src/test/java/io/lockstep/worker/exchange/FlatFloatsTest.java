package io.lockstep.worker.exchange;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FlatFloatsTest {

    @Test
    void copiesAViewWithAnOffsetBothWays() {
        INDArray base = Nd4j.create(counting(20), new long[] {1, 20});
        INDArray view = base.get(NDArrayIndex.point(0), NDArrayIndex.interval(5, 12));
        FlatFloats flat = new FlatFloats("view");
        float[] out = new float[9];
        flat.copyOut(view, out, 2);
        assertArrayEquals(new float[] {0, 0, 5, 6, 7, 8, 9, 10, 11}, out);

        float[] in = {-1, -2, -3, -4, -5, -6, -7, -8};
        flat.copyIn(in, 1, view);
        float[] expected = base.toFloatVector().clone();
        for (int i = 0; i < 7; i++) {
            expected[5 + i] = in[1 + i];
        }
        assertArrayEquals(expected, base.toFloatVector(), "written through to the parent, neighbours untouched");
        assertEquals(4f, base.getFloat(0, 4));
        assertEquals(12f, base.getFloat(0, 12));
    }

    @Test
    void freshWrappersOfTheSameMemoryReuseTheView() {
        INDArray base = Nd4j.create(counting(10), new long[] {1, 10});
        FlatFloats flat = new FlatFloats("params");
        float[] out = new float[10];
        flat.copyOut(base.reshape(10), out, 0);
        base.addi(1);
        flat.copyOut(base.reshape(10), out, 0);
        assertArrayEquals(base.toFloatVector(), out);
    }

    @Test
    void rejectsNonFloatArraysNamingTheFix() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new FlatFloats("gradient").length(Nd4j.zeros(DataType.DOUBLE, 4)));
        assertTrue(e.getMessage().contains("gradient") && e.getMessage().contains("FLOAT"), e.getMessage());
    }

    private static float[] counting(int length) {
        float[] values = new float[length];
        for (int i = 0; i < length; i++) {
            values[i] = i;
        }
        return values;
    }
}
