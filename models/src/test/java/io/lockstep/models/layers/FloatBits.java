package io.lockstep.models.layers;

import org.nd4j.linalg.api.ndarray.INDArray;

/** The raw bits of a float array's elements in C order, for tests that compare results bit for bit (signed zeros and NaNs included). */
final class FloatBits {

    private FloatBits() {
    }

    static int[] of(INDArray array) {
        float[] values = array.dup('c').data().asFloat();
        int[] bits = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            bits[i] = Float.floatToRawIntBits(values[i]);
        }
        return bits;
    }
}
