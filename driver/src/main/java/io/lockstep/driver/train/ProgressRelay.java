package io.lockstep.driver.train;

import io.lockstep.api.ProgressListener;
import io.lockstep.worker.spark.ProgressAccumulator;
import org.apache.spark.scheduler.AccumulableInfo;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorMetricsUpdate;
import scala.Tuple4;

import java.util.List;

/**
 * Passes rank 0's position to the {@link ProgressListener}s: rank 0 publishes it through a
 * {@link ProgressAccumulator}, executor heartbeats carry it to Spark's listener bus, which calls this
 * on its own thread. Positions of another epoch than the current one (a late heartbeat) are dropped.
 */
final class ProgressRelay extends SparkListener {
    private final ProgressAccumulator accumulator;
    private final int replicas;
    private final List<ProgressListener> listeners;
    private volatile int epoch = -1;

    ProgressRelay(ProgressAccumulator accumulator, int replicas, List<ProgressListener> listeners) {
        this.accumulator = accumulator;
        this.replicas = replicas;
        this.listeners = listeners;
    }

    void startEpoch(int current) {
        epoch = current;
    }

    @Override
    public void onExecutorMetricsUpdate(SparkListenerExecutorMetricsUpdate update) {
        // Wildcards: the tuple's last element is an immutable.Seq in Scala 2.13 and a collection.Seq in 2.12.
        scala.collection.Iterator<? extends Tuple4<?, ?, ?, ? extends scala.collection.Iterable<AccumulableInfo>>> tasks =
                update.accumUpdates().iterator();
        while (tasks.hasNext()) {
            scala.collection.Iterator<AccumulableInfo> infos = tasks.next()._4().iterator();
            while (infos.hasNext()) {
                AccumulableInfo info = infos.next();
                if (info.id() == accumulator.id() && info.update().isDefined()
                        && info.update().get() instanceof double[] position
                        && (int) position[ProgressAccumulator.EPOCH] == epoch) {
                    // Rank 0 reports its own rate; replicas step in lockstep with equal batches, so the job's rate is N times it.
                    double rate = replicas * position[ProgressAccumulator.EXAMPLES_PER_SECOND];
                    for (ProgressListener listener : listeners) {
                        listener.stepReached(epoch, (long) position[ProgressAccumulator.STEP], position[ProgressAccumulator.LOSS], rate);
                    }
                }
            }
        }
    }
}
