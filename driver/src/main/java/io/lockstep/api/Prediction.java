package io.lockstep.api;

import java.io.Serial;
import java.io.Serializable;

/**
 * The network's answer for one example. A plain final class (not a record) so that Spark's Kryo
 * serializer can carry it as well as Java serialization.
 */
public final class Prediction implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    private final int predictedClass;
    private final float[] probabilities;

    /**
     * @param predictedClass index of the most probable class
     * @param probabilities  the output layer's values (class probabilities for a softmax output)
     */
    public Prediction(int predictedClass, float[] probabilities) {
        this.predictedClass = predictedClass;
        this.probabilities = probabilities;
    }

    public int predictedClass() {
        return predictedClass;
    }

    public float[] probabilities() {
        return probabilities.clone();
    }

    @Override
    public String toString() {
        return "Prediction[class " + predictedClass + ", " + java.util.Arrays.toString(probabilities) + "]";
    }
}
