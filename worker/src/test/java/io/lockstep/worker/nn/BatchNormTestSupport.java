package io.lockstep.worker.nn;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Collections;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** Helpers shared by the BatchNorm tests: standalone layers, comparisons that report the worst element. */
final class BatchNormTestSupport {

    private BatchNormTestSupport() {
    }

    /** A standalone layer for {@code layerConf} in {@code type}, parameters set to {@code initialParams}, gradient views attached. */
    static Layer standaloneLayer(BatchNormalization layerConf, DataType type, INDArray initialParams) {
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder().dataType(type).layer(layerConf.clone()).build();
        long numParams = conf.getLayer().initializer().numParams(conf);
        INDArray params = Nd4j.create(type, 1, numParams);
        Layer layer = conf.getLayer().instantiate(conf, Collections.emptyList(), 0, params, true, type);
        layer.setBackpropGradientsViewArray(Nd4j.create(type, 1, numParams));
        if (initialParams != null) {
            params.assign(initialParams.reshape(1, numParams));
        }
        return layer;
    }

    /**
     * Asserts |actual − expected| ≤ tolerance·max(1, |expected|) element-wise (absolute near zero,
     * relative for large values), naming the worst element.
     */
    static void assertClose(String what, INDArray expected, INDArray actual, double tolerance) {
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        assertClose(what, values(expected), values(actual), tolerance);
    }

    static void assertClose(String what, double[] expected, double[] actual, double tolerance) {
        if (expected.length != actual.length) {
            fail(what + ": length " + actual.length + ", expected " + expected.length);
        }
        double worst = 0;
        int worstIndex = -1;
        for (int i = 0; i < expected.length; i++) {
            double error = Math.abs(actual[i] - expected[i]) / Math.max(1.0, Math.abs(expected[i]));
            if (!(error <= worst)) {
                worst = error;
                worstIndex = i;
            }
        }
        if (!(worst <= tolerance)) {
            fail(what + ": element " + worstIndex + " is " + actual[worstIndex] + ", expected " + expected[worstIndex]
                    + " (scaled error " + worst + " > " + tolerance + ")");
        }
    }

    /** Largest scaled error, for reporting achieved precision. */
    static double maxScaledError(INDArray expected, INDArray actual) {
        double[] e = values(expected);
        double[] a = values(actual);
        double worst = 0;
        for (int i = 0; i < e.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - e[i]) / Math.max(1.0, Math.abs(e[i])));
        }
        return worst;
    }

    /** All elements in c order, as doubles (empty for an empty array). */
    static double[] values(INDArray array) {
        if (array.isEmpty()) {
            return new double[0];
        }
        return array.castTo(DataType.DOUBLE).dup('c').reshape(array.length()).toDoubleVector();
    }
}
