package io.lockstep.driver.train;

import io.lockstep.worker.spark.ProgressAccumulator;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.apache.spark.scheduler.AccumulableInfo;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorMetricsUpdate;
import scala.Tuple4;

/**
 * Live progress on the driver console: epoch, step, loss, images/s of the whole job and ETA. Rank 0
 * publishes its position through a {@link ProgressAccumulator}; executor heartbeats carry it here.
 * Spark's listener bus calls this on one thread; the training thread only opens and closes epochs.
 */
final class ConsoleProgress extends SparkListener {
    private final ProgressAccumulator accumulator;
    private final int epochs;
    private final int replicas;
    private final boolean interactive = System.console() != null;
    private volatile ProgressBar bar;
    private volatile int barEpoch = -1;

    ConsoleProgress(ProgressAccumulator accumulator, int epochs, int replicas) {
        this.accumulator = accumulator;
        this.epochs = epochs;
        this.replicas = replicas;
    }

    synchronized void startEpoch(int epoch, int steps) {
        finishEpoch();
        ProgressBarBuilder builder = new ProgressBarBuilder()
                .setTaskName(String.format("epoch %d/%d", epoch + 1, epochs))
                .setInitialMax(steps)
                .setUnit(" steps", 1)
                .setStyle(ProgressBarStyle.ASCII)
                .setMaxRenderedLength(120);
        if (interactive) {
            builder.setUpdateIntervalMillis(500);
        } else {
            // Logs and CI: a plain line every 10 s instead of carriage-return redraws.
            builder.setConsumer(new DelegatingProgressBarConsumer(System.err::println)).setUpdateIntervalMillis(10_000);
        }
        bar = builder.build();
        barEpoch = epoch;
    }

    synchronized void finishEpoch() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
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
                        && info.update().get() instanceof double[] position) {
                    show(position);
                }
            }
        }
    }

    private synchronized void show(double[] position) {
        ProgressBar current = bar;
        if (current == null || (int) position[ProgressAccumulator.EPOCH] != barEpoch) {
            return;
        }
        current.stepTo((long) position[ProgressAccumulator.STEP]);
        // Rank 0 reports its own rate; replicas step in lockstep with equal batches, so the job's rate is N times it.
        current.setExtraMessage(String.format(" loss %.4f  %.0f img/s",
                position[ProgressAccumulator.LOSS], replicas * position[ProgressAccumulator.EXAMPLES_PER_SECOND]));
    }
}
