package io.lockstep.driver.train;

import io.lockstep.api.EpochResult;
import io.lockstep.api.ProgressListener;
import io.lockstep.api.TrainResult;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.PrintStream;
import java.util.function.Consumer;

/**
 * The command line's progress on the console (standard error): a bar per epoch with step, loss,
 * images/s and ETA, and one line per finished epoch. The bar is redrawn in a terminal and printed
 * every 10 s otherwise (logs, CI).
 */
public final class ConsoleProgress implements ProgressListener {
    private final boolean interactive = System.console() != null;
    private ProgressBar bar;
    private int barEpoch = -1;

    @Override
    public synchronized void epochStarted(int epoch, int epochs, int steps) {
        closeBar();
        ProgressBarBuilder builder = new ProgressBarBuilder()
                .setTaskName(String.format("epoch %d/%d", epoch + 1, epochs))
                .setInitialMax(steps)
                .setUnit(" steps", 1)
                .setStyle(ProgressBarStyle.ASCII)
                .setMaxRenderedLength(120);
        if (interactive) {
            builder.setUpdateIntervalMillis(500);
        } else {
            builder.setConsumer(new DelegatingProgressBarConsumer(new DistinctLines(System.err)))
                    .setUpdateIntervalMillis(10_000);
        }
        bar = builder.build();
        barEpoch = epoch;
    }

    @Override
    public synchronized void stepReached(int epoch, long step, double loss, double imagesPerSecond) {
        if (bar != null && epoch == barEpoch) {
            bar.stepTo(step);
            bar.setExtraMessage(String.format(" loss %.4f  %.0f img/s", loss, imagesPerSecond));
        }
    }

    @Override
    public synchronized void epochFinished(EpochResult r) {
        closeBar();
        System.err.printf("epoch %d/%d  loss %.4f  test accuracy %.4f  %.0f img/s  (compute %.0f%%, BatchNorm sync %.0f%%, exchange %.0f%%, data wait %.0f%%)%n",
                r.epoch() + 1, r.epochs(), r.meanLoss(), r.testAccuracy(), r.imagesPerSecond(), 100 * r.computeShare(),
                100 * r.normSyncShare(), 100 * r.exchangeShare(), 100 * r.dataWaitShare());
    }

    @Override
    public synchronized void trainingFinished(TrainResult result) {
        closeBar();
        System.err.printf("test accuracy %.4f after %d epochs, %.1f s, %.0f img/s; model in %s%n", result.testAccuracy(),
                result.history().isEmpty() ? 0 : result.history().get(result.history().size() - 1).epochs(),
                result.wallSeconds(), result.imagesPerSecond(), result.modelFile());
    }

    /** Closes the bar of an epoch that failed, so the error is not drawn over. */
    public synchronized void closeBar() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
    }

    /**
     * Prints a bar's lines to a log, skipping a line equal to the one before: closing a bar draws it once
     * more, which a terminal overwrites but a log would keep twice. Called by the bar's drawing thread and
     * by the thread that closes it.
     */
    private static final class DistinctLines implements Consumer<String> {
        private final PrintStream out;
        private String last;

        DistinctLines(PrintStream out) {
            this.out = out;
        }

        @Override
        public synchronized void accept(String line) {
            if (!line.equals(last)) {
                last = line;
                out.println(line);
            }
        }
    }
}
