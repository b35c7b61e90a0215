package io.lockstep.worker.train;

import java.io.Serializable;

/**
 * What one replica measured in one epoch, returned from its Spark task to the driver. Per-step arrays
 * are indexed by step within the epoch. Times are nanoseconds; bytes are what this replica sent.
 *
 * @param confusion test-set confusion matrix summed over all replicas (row = true class, column =
 *                  predicted), row-major {@code numClasses x numClasses}; empty when not evaluated
 */
public record EpochReport(int rank, int epoch, int examplesPerStep, float[] loss, long[] dataWaitNanos,
                          long[] computeNanos, long[] exchangeNanos, long[] bytesSent, long wallNanos,
                          long evaluationNanos, int numClasses, long[] confusion) implements Serializable {

    public int steps() {
        return loss.length;
    }

    public long testExamples() {
        long total = 0;
        for (long c : confusion) {
            total += c;
        }
        return total;
    }

    public double testAccuracy() {
        long correct = 0;
        for (int c = 0; c < numClasses; c++) {
            correct += confusion[c * numClasses + c];
        }
        long total = testExamples();
        return total == 0 ? Double.NaN : (double) correct / total;
    }
}
