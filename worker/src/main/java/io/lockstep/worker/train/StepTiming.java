package io.lockstep.worker.train;

import java.io.Serializable;
import java.util.Map;

/**
 * What one replica measured in one step, as the step ends. Times are nanoseconds of this replica's
 * training thread; {@code exchangeNanos} and {@code normSyncNanos} include waiting for the slowest
 * peer, so a straggler shows up as its own data or compute time and as wait time on the others.
 *
 * @param step            step within the epoch, from 0
 * @param steps           steps of the whole epoch
 * @param exchangeMetrics the exchange strategy's figures for this step (e.g. compression ratio), by name
 */
public record StepTiming(int rank, int epoch, int step, int steps, double loss, int examples, long dataWaitNanos,
                         long computeNanos, long normSyncNanos, long exchangeNanos, long bytesSent,
                         Map<String, Double> exchangeMetrics) implements Serializable {

    public long totalNanos() {
        return dataWaitNanos + computeNanos + normSyncNanos + exchangeNanos;
    }
}
