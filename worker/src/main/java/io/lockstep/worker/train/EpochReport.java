package io.lockstep.worker.train;

import java.io.Serializable;

/**
 * What one replica measured in one epoch, returned from its Spark task to the driver. Per-step arrays
 * are indexed by step minus {@code firstStep} (a resumed epoch starts after the steps already
 * trained). Times are nanoseconds; bytes are what this replica sent.
 *
 * @param firstStep    first step of the epoch this report covers
 * @param normSyncNanos per step, time the synchronized BatchNorm layers spent in their collectives
 *                     (forward statistics and backward sums, including waiting for the slowest peer);
 *                     not part of {@code computeNanos}
 * @param exchangeMetrics per-step figures of the exchange strategy (e.g. compression ratio), by name
 * @param skippedSteps steps skipped because their gradient was not finite ({@code --on-nan skip-step})
 * @param confusion    test-set confusion matrix summed over all replicas (row = true class, column =
 *                     predicted), row-major {@code numClasses x numClasses}; empty when not evaluated
 * @param failure      why training stopped (loss not finite), or {@code null}
 * @param skippedRecords records this replica left out because they could not be decoded ({@code --bad-records skip})
 */
public record EpochReport(int rank, int epoch, int firstStep, int examplesPerStep, float[] loss, long[] dataWaitNanos,
                          long[] computeNanos, long[] normSyncNanos, long[] exchangeNanos, long[] bytesSent,
                          java.util.Map<String, float[]> exchangeMetrics, int skippedSteps, long wallNanos,
                          long evaluationNanos, int numClasses, long[] confusion, String failure,
                          java.util.List<String> skippedRecords) implements Serializable {

    public int steps() {
        return loss.length;
    }

    public EpochReport withEvaluation(long nanos, int classes, long[] counts) {
        return new EpochReport(rank, epoch, firstStep, examplesPerStep, loss, dataWaitNanos, computeNanos, normSyncNanos, exchangeNanos,
                bytesSent, exchangeMetrics, skippedSteps, wallNanos, nanos, classes, counts, failure, skippedRecords);
    }

    /** A replica that stopped: the message names the epoch and the step. */
    public static EpochReport failed(int rank, int epoch, String failure) {
        return new EpochReport(rank, epoch, 0, 0, new float[0], new long[0], new long[0], new long[0], new long[0], new long[0],
                java.util.Map.of(), 0, 0, 0, 0, new long[0], failure, java.util.List.of());
    }

    public EpochReport withSkippedRecords(java.util.List<String> records) {
        return new EpochReport(rank, epoch, firstStep, examplesPerStep, loss, dataWaitNanos, computeNanos, normSyncNanos, exchangeNanos,
                bytesSent, exchangeMetrics, skippedSteps, wallNanos, evaluationNanos, numClasses, confusion, failure,
                java.util.List.copyOf(records));
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
