package io.lockstep.driver.train;

import io.lockstep.driver.cli.UserError;
import io.lockstep.driver.data.DatasetSource;
import io.lockstep.driver.plan.EpochPlan;
import io.lockstep.driver.report.RunOutput;
import io.lockstep.models.Normalization;
import io.lockstep.models.OneDnn;
import io.lockstep.worker.spark.BarrierStages;
import io.lockstep.worker.spark.ProgressAccumulator;
import io.lockstep.worker.spark.ReplicaStage;
import io.lockstep.worker.spark.SerializableHadoopConf;
import io.lockstep.worker.spark.ShardItem;
import io.lockstep.worker.spark.StageSpec;
import io.lockstep.worker.spark.TaskProgress;
import io.lockstep.worker.train.CheckpointStore;
import io.lockstep.worker.train.EpochReport;
import io.lockstep.worker.train.LearningRateSchedule;
import io.lockstep.worker.train.ModelRecipe;
import org.apache.spark.HashPartitioner;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

import java.io.File;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Runs one training job on the driver: reads the dataset once, then per epoch builds the epoch plan,
 * routes each record to its replica, runs one barrier stage (one task per replica), and records what
 * the replicas report. The model crosses epochs through the checkpoint directory: rank 0 writes a
 * checkpoint at the end of every epoch and the next stage's tasks load it, so the driver never holds
 * or ships parameters, and a failed stage restarts from the last checkpoint.
 */
public final class TrainingJob {
    private static final Logger LOG = LoggerFactory.getLogger(TrainingJob.class);

    private final JobConfig config;
    private final DatasetOpener datasets;

    /** Opens the job's dataset on the driver (the Hadoop configuration comes from Spark). */
    @FunctionalInterface
    public interface DatasetOpener {
        TrainingData<? extends Serializable> open(String uri, org.apache.hadoop.conf.Configuration hadoopConf);
    }

    public TrainingJob(JobConfig config) {
        this(config, (uri, conf) -> DatasetSource.open(uri, conf));
    }

    public TrainingJob(JobConfig config, DatasetOpener datasets) {
        this.config = config;
        this.datasets = datasets;
    }

    /** The outcome, also written to {@code summary.json}. */
    public record Result(double testAccuracy, double wallSeconds, double imagesPerSecond, String modelFile,
                         List<Double> accuracyPerEpoch) {
    }

    public Result run() {
        LOG.info("OneDNN layer helpers {}", OneDnn.helpersActive() ? "active" : "NOT active (convolutions will be slow)");
        SparkConf sparkConf = new SparkConf()
                .setAppName("lockstep train " + config.model())
                .setMaster(config.effectiveMaster())
                .setIfMissing("spark.scheduler.minRegisteredResourcesRatio", "1.0")
                .setIfMissing("spark.executor.heartbeatInterval", "2s");
        if (config.sparkUi()) {
            sparkConf.setIfMissing("spark.ui.enabled", "true");
        } else {
            sparkConf.set("spark.ui.enabled", "false");
        }
        try (JavaSparkContext sc = new JavaSparkContext(sparkConf)) {
            sc.setLogLevel("WARN");
            sc.setLocalProperty("spark.job.interruptOnCancel", "true");
            return train(sc, datasets.open(config.data(), sc.hadoopConfiguration()));
        }
    }

    private <R extends Serializable> Result train(JavaSparkContext sc, TrainingData<R> data) {
        long start = System.nanoTime();
        int replicas = config.replicas();
        checkSlots(sc, replicas);
        Normalization builtWith = "none".equals(config.effectiveNorm()) ? Normalization.NONE : Normalization.BATCH;
        ModelRecipe recipe = new ModelRecipe(config.model(), data.classNames().size(), data.shape().channels(),
                data.shape().height(), data.shape().width(), builtWith, config.seed(), config.optimizerKind(),
                config.learningRate(), config.weightDecay());
        recipe.build(); // fail on the driver, with a clear message, if the model cannot take this input

        List<Tuple2<Integer, R>> indexedTrain = indexed(data.train());
        List<Tuple2<Integer, R>> indexedTest = indexed(data.test());
        // Records travel inside the tasks that first cache them: keep each slice near 512 KiB.
        long recordBytes = data.train().isEmpty() ? 0 : approximateBytes(data.train().get(0)) * (long) data.train().size();
        int partitions = (int) Math.max(Math.max(replicas, sc.defaultParallelism()), recordBytes / (512 * 1024));
        JavaPairRDD<Integer, R> trainRecords = JavaPairRDD.fromJavaRDD(sc.parallelize(indexedTrain, partitions))
                .persist(StorageLevel.MEMORY_ONLY_SER());
        JavaPairRDD<Integer, ShardItem<R>> testRouted = JavaPairRDD.fromJavaRDD(sc.parallelize(indexedTest, partitions))
                .mapToPair(t -> new Tuple2<>(t._1() % replicas, new ShardItem<>(true, t._1() / replicas, t._2())))
                .persist(StorageLevel.MEMORY_ONLY_SER());

        String jobId = UUID.randomUUID().toString();
        long secret = new SecureRandom().nextLong();
        CheckpointStore checkpoints = new CheckpointStore(config.effectiveCheckpointDir(), sc.hadoopConfiguration());
        int removed = checkpoints.cleanPartial();
        if (removed > 0) {
            System.err.printf("removed %d partial checkpoint(s) left by an interrupted write%n", removed);
        }
        ResumePoint resume = ResumePoint.find(config, checkpoints, sc.hadoopConfiguration());
        StageRetries retries = new StageRetries();
        sc.sc().addSparkListener(retries);
        SerializableHadoopConf hadoopConf = new SerializableHadoopConf(sc.hadoopConfiguration());
        ProgressAccumulator progressAccumulator = new ProgressAccumulator();
        ConsoleProgress console = new ConsoleProgress(progressAccumulator, config.epochs(), replicas);
        sc.sc().addSparkListener(console);
        int threads = threadsPerReplica(sc, replicas);

        List<Double> accuracy = new ArrayList<>();
        List<String> skippedOnExecutors = new ArrayList<>();
        long images = 0;
        long globalStep = resume.globalStep();
        String resumeFrom = resume.checkpoint();
        int resumeStep = resume.stepInEpoch();
        if (resume.checkpoint() != null) {
            System.err.printf("resuming from %s: epoch %d, step %d%n", resume.checkpoint(), resume.epoch() + 1, resume.stepInEpoch());
        }
        try (RunOutput out = new RunOutput(config.out(), sc.hadoopConfiguration(), resume.checkpoint() != null)) {
            RunMonitor monitor = new RunMonitor(out, checkpoints, replicas, config.metricsEverySteps(), config.stallFactor());
            TaskProgress taskProgress = monitor.start(sc, progressAccumulator, config, data.classNames());
            for (int epoch = resume.epoch(); epoch < config.epochs(); epoch++) {
                EpochPlan plan = new EpochPlan(config.seed(), epoch, replicas, indexedTrain.size(), config.batchSize());
                int steps = config.maxStepsPerEpoch() > 0 ? Math.min(config.maxStepsPerEpoch(), plan.stepsPerEpoch()) : plan.stepsPerEpoch();
                LearningRateSchedule schedule = new LearningRateSchedule(config.learningRate(), config.scaling(), replicas,
                        config.warmupEpochs(), steps, config.decay(), config.epochs());
                StageSpec spec = new StageSpec(jobId, secret, epoch, replicas, config.batchSize(), steps, recipe,
                        config.effectiveNorm(), schedule, config.checkEverySteps(), config.dataTimeoutMs(),
                        config.collectiveTimeoutMs(), config.evalBatchSize(), checkpoints.uri(), resumeFrom,
                        resumeStep, config.keepCheckpoints(), threads, config.seed(), globalStep, data.classNames(),
                        config.asMap(), config.checkpointEverySteps(), config.onNan(), config.exchange(),
                        config.exchangeSettings());
                Broadcast<EpochPlan> planBroadcast = sc.broadcast(plan);
                int shardLimit = steps * config.batchSize();
                JavaPairRDD<Integer, ShardItem<R>> routed = trainRecords
                        .flatMapToPair(t -> route(planBroadcast.value(), t, shardLimit))
                        .union(testRouted)
                        .partitionBy(new HashPartitioner(replicas));
                console.startEpoch(epoch, steps);
                monitor.startEpoch(sc, config, epoch, steps);
                List<EpochReport> reports;
                try {
                    @SuppressWarnings({"unchecked", "rawtypes"})
                    JavaRDD<EpochReport> stage = BarrierStages.mapPartitions((JavaRDD) routed.rdd().toJavaRDD(),
                            new ReplicaStage<>(spec, data.decoder(), hadoopConf, taskProgress),
                            EpochReport.class);
                    // The shuffle makes the barrier stage a ShuffleMapStage, which Spark reruns as a whole
                    // when an executor is lost (a barrier ResultStage would abort the job instead).
                    reports = new ArrayList<>(stage.mapToPair(r -> new Tuple2<>(r.rank(), r))
                            .partitionBy(new HashPartitioner(1)).values().collect());
                    reports.sort(java.util.Comparator.comparingInt(EpochReport::rank));
                } finally {
                    console.finishEpoch();
                    planBroadcast.destroy();
                }
                for (EpochReport report : reports) {
                    if (report.failure() != null) {
                        String lastGood = checkpoints.latest().map(CheckpointStore.Checkpoint::path).orElse("none yet");
                        throw new TrainingStoppedException(report.failure() + "; last good checkpoint: " + lastGood
                                + " (continue from it with --resume after fixing the cause)");
                    }
                }
                for (EpochReport report : reports) {
                    for (String skipped : report.skippedRecords()) {
                        skippedOnExecutors.add("epoch " + (epoch + 1) + ", replica " + report.rank() + ": " + skipped);
                    }
                }
                EpochSummary summary = EpochSummary.of(reports, replicas);
                accuracy.add(summary.testAccuracy());
                images += (long) (steps - resumeStep) * config.batchSize() * replicas;
                globalStep += steps - resumeStep;
                resumeStep = 0;
                monitor.finishEpoch(epoch, summary);
                System.err.printf("epoch %d/%d  loss %.4f  test accuracy %.4f  %.0f img/s  (compute %.0f%%, BatchNorm sync %.0f%%, exchange %.0f%%, data wait %.0f%%)%n",
                        epoch + 1, config.epochs(), summary.meanLoss(), summary.testAccuracy(), summary.imagesPerSecond(),
                        100 * summary.computeShare(), 100 * summary.normSyncShare(), 100 * summary.exchangeShare(),
                        100 * summary.dataWaitShare());
                resumeFrom = checkpoints.latest().orElseThrow(() -> new IllegalStateException(
                        "rank 0 reported epoch " + checkpointsHint() + " done but wrote no checkpoint")).path();
            }
            double wall = (System.nanoTime() - start) / 1e9;
            File modelFile = writeModel(checkpoints, out, data, accuracy);
            Map<String, Object> summary = new LinkedHashMap<>();
            summary.put("model", config.model());
            summary.put("epochs", config.epochs());
            summary.put("replicas", replicas);
            summary.put("normalization", config.effectiveNorm());
            summary.put("exchange", config.exchange());
            summary.put("test_accuracy", accuracy.get(accuracy.size() - 1));
            summary.put("test_accuracy_per_epoch", accuracy);
            summary.put("wall_seconds", wall);
            summary.put("stage_retries", retries.count());
            summary.put("stage_retry_details", retries.details());
            summary.put("stragglers", monitor.stragglers());
            summary.put("resumed_from", resume.checkpoint());
            if (data instanceof io.lockstep.driver.data.LoadedDataset loaded) {
                summary.put("dataset", loaded.describe());
                List<String> skipped = new ArrayList<>(loaded.skipped().stream().map(Object::toString).toList());
                skipped.addAll(skippedOnExecutors);
                summary.put("skipped_records_count", skipped.size());
                summary.put("skipped_records", skipped);
            }
            summary.put("images_per_second", images / wall);
            summary.put("images_trained", images);
            summary.put("output", out.uri());
            summary.put("job", config.asMap());
            out.summary(summary);
            monitor.writeReport(out, sc);
            System.err.printf("test accuracy %.4f after %d epochs, %.1f s, %.0f img/s; model in %s/%s%n",
                    accuracy.get(accuracy.size() - 1), config.epochs(), wall, images / wall, out.uri(), RunOutput.MODEL);
            return new Result(accuracy.get(accuracy.size() - 1), wall, images / wall, modelFile.toString(), accuracy);
        }
    }

    private static long approximateBytes(Object record) {
        if (record instanceof io.lockstep.worker.data.LabeledRecord labeled) {
            return labeled.payload().length + 64L;
        }
        return 1024;
    }

    private String checkpointsHint() {
        return "(checkpoint directory " + config.effectiveCheckpointDir() + ")";
    }

    private static <R> List<Tuple2<Integer, R>> indexed(List<R> records) {
        List<Tuple2<Integer, R>> list = new ArrayList<>(records.size());
        for (int i = 0; i < records.size(); i++) {
            list.add(new Tuple2<>(i, records.get(i)));
        }
        return list;
    }

    private static <R> java.util.Iterator<Tuple2<Integer, ShardItem<R>>> route(EpochPlan plan, Tuple2<Integer, R> record, int shardLimit) {
        int replica = plan.replicaOf(record._1());
        if (replica < 0) {
            return java.util.Collections.emptyIterator();
        }
        int order = plan.orderInShard(record._1());
        if (order >= shardLimit) {
            return java.util.Collections.emptyIterator();
        }
        return List.of(new Tuple2<>(replica, new ShardItem<>(false, order, record._2()))).iterator();
    }

    /**
     * Fails fast when the cluster cannot run all replicas at once (a barrier stage needs them together).
     * On a cluster, executors register after the context starts: wait for them up to
     * {@code --slot-wait-ms}, then report how many slots were needed and found.
     */
    private void checkSlots(JavaSparkContext sc, int replicas) {
        long deadline = System.nanoTime() + (sc.master().startsWith("local") ? 0 : config.slotWaitMs() * 1_000_000L);
        int slots = concurrentTaskSlots(sc);
        while (slots < replicas && System.nanoTime() < deadline) {
            try {
                Thread.sleep(200); // polling Spark's registered executors; there is no event to await here
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for executors", e);
            }
            slots = concurrentTaskSlots(sc);
        }
        if (slots < replicas) {
            throw new UserError("--replicas " + replicas + " needs " + replicas + " task slots at once, but the cluster offers "
                    + slots + " (registered executors' cores / spark.task.cpus, after waiting up to " + config.slotWaitMs()
                    + " ms for executors); add executors or cores, or lower --replicas");
        }
    }

    /** The number Spark's own barrier-stage check uses: tasks the registered executors can run at once. */
    private static int concurrentTaskSlots(JavaSparkContext sc) {
        return sc.sc().maxNumConcurrentTasks(sc.sc().resourceProfileManager().defaultResourceProfile());
    }

    private int threadsPerReplica(JavaSparkContext sc, int replicas) {
        if (config.threadsPerReplica() > 0) {
            return config.threadsPerReplica();
        }
        if (sc.master().startsWith("local")) {
            return Math.max(1, Runtime.getRuntime().availableProcessors() / replicas);
        }
        return sc.getConf().getInt("spark.task.cpus", 1);
    }

    private File writeModel(CheckpointStore checkpoints, RunOutput out, TrainingData<?> data, List<Double> accuracy) {
        CheckpointStore.Checkpoint last = checkpoints.latest().orElseThrow();
        ComputationGraph graph = checkpoints.loadModel(last);
        try {
            File local = Files.createTempFile("lockstep-model", ".zip").toFile();
            local.deleteOnExit();
            ModelFile.write(graph, new ModelFile.Info(config.model(), data.classNames(), data.shape().channels(),
                    data.shape().height(), data.shape().width(), config.effectiveNorm(), config.epochs(),
                    accuracy.get(accuracy.size() - 1), data.transform()), local);
            out.model(local.toPath());
            return local;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the final model: " + e.getMessage(), e);
        }
    }
}
