package io.lockstep.driver.train;

import io.lockstep.worker.train.EpochReport;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The replicas' reports of one epoch, aggregated on the driver: per step the mean loss over replicas
 * and the slowest replica's times (a synchronous step lasts as long as its slowest replica).
 */
record EpochSummary(List<EpochReport> reports, int replicas, double meanLoss, double testAccuracy, long images,
                    double wallSeconds, double computeShare, double normSyncShare, double exchangeShare,
                    double dataWaitShare) {

    static EpochSummary of(List<EpochReport> reports, int replicas) {
        if (reports.size() != replicas) {
            throw new IllegalStateException("expected reports from " + replicas + " replicas, got " + reports.size());
        }
        EpochReport first = reports.get(0);
        int steps = first.steps();
        double lossSum = 0;
        long compute = 0;
        long normSync = 0;
        long exchange = 0;
        long dataWait = 0;
        for (EpochReport r : reports) {
            for (int s = 0; s < steps; s++) {
                lossSum += r.loss()[s];
                compute += r.computeNanos()[s];
                normSync += r.normSyncNanos()[s];
                exchange += r.exchangeNanos()[s];
                dataWait += r.dataWaitNanos()[s];
            }
        }
        double total = Math.max(1, compute + normSync + exchange + dataWait);
        long images = (long) steps * first.examplesPerStep() * replicas;
        if (steps == 0) {
            // A retried stage whose epoch a previous attempt had already trained: evaluation only.
            EpochReport evaluated = reports.stream().filter(r -> r.numClasses() > 0).findFirst().orElse(first);
            return new EpochSummary(reports, replicas, Double.NaN, evaluated.testAccuracy(), 0, 1e-9, 0, 0, 0, 0);
        }
        double wall = reports.stream().mapToLong(EpochReport::wallNanos).max().orElse(1) / 1e9;
        EpochReport withConfusion = reports.stream().filter(r -> r.numClasses() > 0).findFirst().orElse(first);
        return new EpochSummary(reports, replicas, lossSum / (steps * (double) replicas),
                withConfusion.testAccuracy(), images, wall, compute / total, normSync / total, exchange / total,
                dataWait / total);
    }

    double imagesPerSecond() {
        return images / wallSeconds;
    }

    /** The epoch's {@code epoch} record for metrics.jsonl (step records are the {@link RunMonitor}'s). */
    Map<String, Object> epochRecord(int epoch) {
        int steps = reports.get(0).steps();
        EpochReport first = reports.get(0);
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("type", "epoch");
        summary.put("epoch", epoch + 1);
        summary.put("steps", steps);
        summary.put("first_step", first.firstStep() + 1);
        summary.put("skipped_steps", first.skippedSteps());
        summary.put("loss", meanLoss);
        summary.put("test_accuracy", testAccuracy);
        summary.put("seconds", wallSeconds);
        summary.put("images_per_second", imagesPerSecond());
        summary.put("compute_share", computeShare);
        summary.put("norm_sync_share", normSyncShare);
        summary.put("exchange_share", exchangeShare);
        summary.put("data_wait_share", dataWaitShare);
        summary.put("evaluation_seconds", first.evaluationNanos() / 1e9);
        return summary;
    }
}
