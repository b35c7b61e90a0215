package io.lockstep.driver.train;

import io.lockstep.api.TrainOptions;
import io.lockstep.driver.report.RunOutput;
import io.lockstep.driver.report.RunReport;
import io.lockstep.driver.report.StallDetector;
import io.lockstep.worker.spark.ProgressAccumulator;
import io.lockstep.worker.spark.StepTimesAccumulator;
import io.lockstep.worker.spark.StepTimesAccumulator.HostedStep;
import io.lockstep.worker.spark.TaskProgress;
import io.lockstep.worker.train.CheckpointStore;
import io.lockstep.worker.train.EpochReport;
import io.lockstep.worker.train.StepTiming;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.AccumulableInfo;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorMetricsUpdate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple4;

import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the driver records while a job runs: one {@code step} record per step (or every
 * {@code --metrics-every} steps) in {@code metrics.jsonl} as soon as every replica's timing of that step
 * has arrived with the executors' heartbeats, stall reports in the log and in {@code metrics.jsonl},
 * the run's options and environment as the first record, and the Spark job description of each epoch.
 * Steps the heartbeats did not carry are written from the replicas' reports when the epoch ends, so
 * every epoch's records are complete.
 *
 * <p>Spark's listener-bus thread delivers heartbeats, the training thread opens and closes epochs; both
 * go through this object's lock.
 */
final class RunMonitor extends SparkListener {
    private static final Logger LOG = LoggerFactory.getLogger(RunMonitor.class);

    private final RunOutput out;
    private final CheckpointStore checkpoints;
    private final int replicas;
    private final int everySteps;
    private final StepTimesAccumulator stepTimes = new StepTimesAccumulator();
    private final StallDetector stalls;
    private final Map<Integer, String> hosts = new HashMap<>();
    /** Per step of the open epoch, the timings received so far (index = rank). */
    private final Map<Integer, StepTiming[]> pending = new HashMap<>();
    private final BitSet written = new BitSet();
    private int openEpoch = -1;
    private long runStartMillis;

    RunMonitor(RunOutput out, CheckpointStore checkpoints, int replicas, int everySteps, double stallFactor,
               int checkpointEverySteps) {
        this.out = out;
        this.checkpoints = checkpoints;
        this.replicas = replicas;
        this.everySteps = everySteps;
        this.stalls = new StallDetector(stallFactor, checkpointEverySteps);
    }

    /** Registers the step-times accumulator and this listener, and writes the {@code run} record ({@link #stop} undoes the listener). */
    TaskProgress start(JavaSparkContext sc, ProgressAccumulator progress, TrainOptions options, List<String> classNames) {
        sc.sc().register(stepTimes, "lockstep: step timings of every replica");
        sc.sc().addSparkListener(this);
        runStartMillis = System.currentTimeMillis();
        Map<String, Object> run = new LinkedHashMap<>();
        run.put("type", "run");
        run.put("time", runStartMillis);
        run.put("job", options.asMap());
        run.put("class_names", classNames);
        run.put("environment", environment(sc));
        out.metric(run);
        return new TaskProgress(progress, stepTimes, everySteps);
    }

    private static Map<String, Object> environment(JavaSparkContext sc) {
        Map<String, Object> env = new LinkedHashMap<>();
        env.put("lockstep", RunMonitor.class.getPackage().getImplementationVersion() == null ? "development build"
                : RunMonitor.class.getPackage().getImplementationVersion());
        env.put("spark", sc.version());
        env.put("spark_master", sc.master());
        env.put("application_id", sc.sc().applicationId());
        env.put("spark_ui", sc.sc().uiWebUrl().isDefined() ? sc.sc().uiWebUrl().get() : null);
        env.put("java", System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
        env.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        env.put("driver_cores", Runtime.getRuntime().availableProcessors());
        env.put("driver_max_heap_mb", Runtime.getRuntime().maxMemory() >> 20);
        env.put("default_parallelism", sc.defaultParallelism());
        return env;
    }

    /** Describes the epoch's Spark jobs, so the Spark UI says what is running. */
    synchronized void startEpoch(JavaSparkContext sc, TrainOptions options, String model, int epoch, int steps) {
        String description = String.format("lockstep epoch %d/%d · %d replicas × %d · %s · %d steps", epoch + 1,
                options.get(TrainOptions.EPOCHS), replicas, options.get(TrainOptions.BATCH_SIZE), model, steps);
        sc.setJobGroup("lockstep-epoch-" + (epoch + 1), description, true);
        openEpoch = epoch;
        pending.clear();
        written.clear();
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
                if (info.id() == stepTimes.id() && info.update().isDefined() && info.update().get() instanceof List<?> steps) {
                    for (Object step : steps) {
                        received((HostedStep) step);
                    }
                }
            }
        }
    }

    /** The host each rank reported its steps from, by rank (ranks not heard from are missing). */
    synchronized Map<Integer, String> hostsByRank() {
        return new HashMap<>(hosts);
    }

        synchronized void received(HostedStep hosted) {
        StepTiming t = hosted.timing();
        hosts.put(t.rank(), hosted.host());
        if (t.epoch() != openEpoch || written.get(t.step()) || t.rank() >= replicas) {
            return;
        }
        StepTiming[] ranks = pending.computeIfAbsent(t.step(), s -> new StepTiming[replicas]);
        ranks[t.rank()] = t;
        for (StepTiming r : ranks) {
            if (r == null) {
                return;
            }
        }
        pending.remove(t.step());
        write(ranks);
    }

    private void write(StepTiming[] ranks) {
        StepTiming first = ranks[0];
        written.set(first.step());
        String[] stepHosts = new String[replicas];
        for (int r = 0; r < replicas; r++) {
            stepHosts[r] = hosts.getOrDefault(r, "unknown");
        }
        out.metric(stepRecord(ranks, stepHosts));
        stalls.step(ranks, stepHosts).ifPresent(stall -> {
            LOG.warn(stall.describe());
            out.metric(stall.toRecord());
        });
    }

    private Map<String, Object> stepRecord(StepTiming[] ranks, String[] stepHosts) {
        StepTiming first = ranks[0];
        double loss = 0;
        long compute = 0;
        long normSync = 0;
        long exchange = 0;
        long dataWait = 0;
        long bytes = 0;
        List<Map<String, Object>> perRank = new java.util.ArrayList<>();
        for (StepTiming t : ranks) {
            loss += t.loss();
            compute = Math.max(compute, t.computeNanos());
            normSync = Math.max(normSync, t.normSyncNanos());
            exchange = Math.max(exchange, t.exchangeNanos());
            dataWait = Math.max(dataWait, t.dataWaitNanos());
            bytes = Math.max(bytes, t.bytesSent());
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("rank", t.rank());
            r.put("host", stepHosts[t.rank()]);
            r.put("loss", t.loss());
            r.put("compute_ms", t.computeNanos() / 1e6);
            r.put("norm_sync_ms", t.normSyncNanos() / 1e6);
            r.put("exchange_ms", t.exchangeNanos() / 1e6);
            r.put("data_wait_ms", t.dataWaitNanos() / 1e6);
            r.put("bytes_sent", t.bytesSent());
            perRank.add(r);
        }
        Map<String, Object> step = new LinkedHashMap<>();
        step.put("type", "step");
        step.put("epoch", first.epoch() + 1);
        step.put("step", first.step() + 1);
        step.put("time", System.currentTimeMillis());
        step.put("loss", loss / ranks.length);
        // A synchronous step lasts as long as its slowest replica: the job-level figures are the maxima.
        step.put("compute_ms", compute / 1e6);
        step.put("norm_sync_ms", normSync / 1e6);
        step.put("exchange_ms", exchange / 1e6);
        step.put("data_wait_ms", dataWait / 1e6);
        step.put("bytes_sent_per_replica", bytes);
        step.putAll(new java.util.TreeMap<>(first.exchangeMetrics()));
        double stepSeconds = (compute + normSync + exchange + dataWait) / 1e9;
        step.put("images_per_second", stepSeconds > 0 ? first.examples() * (double) ranks.length / stepSeconds : 0);
        step.put("ranks", perRank);
        return step;
    }

    /**
     * Closes the epoch: writes the steps the heartbeats did not carry (from the replicas' reports), then
     * the epoch record with its confusion matrix, stalls and checkpoint.
     */
    synchronized void finishEpoch(int epoch, EpochSummary summary) {
        List<EpochReport> reports = summary.reports();
        EpochReport first = reports.get(0);
        for (int s = 0; s < first.steps(); s++) {
            int step = first.firstStep() + s;
            if (written.get(step) || ((step + 1) % everySteps != 0 && step + 1 != first.firstStep() + first.steps())) {
                continue;
            }
            StepTiming[] ranks = new StepTiming[replicas];
            for (EpochReport r : reports) {
                Map<String, Double> metrics = new HashMap<>();
                for (Map.Entry<String, float[]> m : r.exchangeMetrics().entrySet()) {
                    metrics.put(m.getKey(), (double) m.getValue()[s]);
                }
                ranks[r.rank()] = new StepTiming(r.rank(), epoch, step, first.firstStep() + first.steps(), r.loss()[s],
                        r.examplesPerStep(), r.dataWaitNanos()[s], r.computeNanos()[s], r.normSyncNanos()[s],
                        r.exchangeNanos()[s], r.bytesSent()[s], metrics);
            }
            write(ranks);
        }
        Map<String, Object> record = summary.epochRecord(epoch);
        record.put("time", System.currentTimeMillis());
        record.put("elapsed_seconds", (System.currentTimeMillis() - runStartMillis) / 1e3);
        record.put("stalls", stalls.stalls(epoch).size());
        EpochReport evaluated = reports.stream().filter(r -> r.numClasses() > 0).findFirst().orElse(null);
        if (evaluated != null && evaluated.numClasses() <= 100) {
            record.put("confusion", confusionRows(evaluated));
        }
        record.put("checkpoint", checkpoints.latest().map(CheckpointStore.Checkpoint::path).orElse(null));
        out.metric(record);
        openEpoch = -1;
        pending.clear();
    }

    private static long[][] confusionRows(EpochReport report) {
        int n = report.numClasses();
        long[][] rows = new long[n][n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(report.confusion(), i * n, rows[i], 0, n);
        }
        return rows;
    }

    /**
     * Writes report.html and the charts at the end of the run. A report that cannot be drawn does not
     * fail a run whose model is saved: it is logged with the command that retries it.
     */
    /** Removes this listener from the context (which may be the caller's, and outlive the job). */
    void stop(JavaSparkContext sc) {
        sc.sc().removeSparkListener(this);
    }

    void writeReport(RunOutput out, JavaSparkContext sc) {
        try {
            LOG.info("report: {}", RunReport.write(out.uri(), sc.hadoopConfiguration()));
        } catch (RuntimeException e) {
            LOG.warn("could not write the run's report ({}); retry with: lockstep report {}", e.getMessage(), out.uri(), e);
        }
    }

    /** Stragglers per epoch, for summary.json. */
    synchronized List<Map<String, Object>> stragglers() {
        return stalls.summary();
    }
}
