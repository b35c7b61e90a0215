package io.lockstep.driver.train;

import io.lockstep.api.EpochResult;
import io.lockstep.api.ProgressListener;
import io.lockstep.api.TrainOptions;
import io.lockstep.api.TrainResult;
import io.lockstep.driver.cli.UserError;
import io.lockstep.driver.cluster.ClusterPreflight;
import io.lockstep.driver.cluster.ExecutorRegistry;
import io.lockstep.driver.cluster.GpuScheduling;
import io.lockstep.driver.plan.EpochPlan;
import io.lockstep.driver.report.RunOutput;
import io.lockstep.models.ActivationLayout;
import io.lockstep.models.ActivationLayouts;
import io.lockstep.models.InputShape;
import io.lockstep.models.ModelLayers;
import io.lockstep.models.Normalization;
import io.lockstep.models.OneDnn;
import io.lockstep.worker.comm.AllReduceTopology;
import io.lockstep.worker.comm.CollectiveException;
import io.lockstep.worker.comm.HostLayout;
import io.lockstep.worker.comm.JobSecret;
import io.lockstep.worker.comm.SealImplementation;
import io.lockstep.worker.comm.WireSecurity;
import io.lockstep.worker.device.Backend;
import io.lockstep.worker.nn.ConvolutionKernels;
import io.lockstep.worker.nn.DnnlConvolution;
import io.lockstep.worker.spark.BarrierStages;
import io.lockstep.worker.spark.ProgressAccumulator;
import io.lockstep.worker.spark.ReplicaStage;
import io.lockstep.worker.spark.SerializableHadoopConf;
import io.lockstep.worker.spark.ShardItem;
import io.lockstep.worker.spark.StageSpec;
import io.lockstep.worker.spark.TaskProgress;
import io.lockstep.worker.train.CheckpointMeta;
import io.lockstep.worker.train.CheckpointStore;
import io.lockstep.worker.train.EpochReport;
import io.lockstep.worker.train.FrozenLayers;
import io.lockstep.worker.train.LearningRateSchedule;
import io.lockstep.worker.train.ModelRecipe;
import io.lockstep.worker.train.Optimizer;
import org.apache.spark.HashPartitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

import java.io.File;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;

import static io.lockstep.api.TrainOptions.*;

/**
 * Runs one training job on a Spark context it is given (and never stops): per epoch it builds the
 * epoch plan, routes each record to its replica, runs one barrier stage (one task per replica), and
 * records what the replicas report. The model crosses epochs through the checkpoint directory: rank 0
 * writes a checkpoint at the end of every epoch and the next stage's tasks load it, so the driver never
 * holds or ships parameters during training, and a failed stage restarts from the last checkpoint.
 * A network the caller built is written as the first checkpoint, so it starts the same way.
 *
 * <p>Runs on the caller's thread; reports through SLF4J and {@link ProgressListener}s.
 */
public final class TrainingJob {
    private static final Logger LOG = LoggerFactory.getLogger(TrainingJob.class);

    private final TrainOptions options;
    private final ComputationGraph network;
    private final List<ProgressListener> listeners;

    /**
     * @param options   validated options
     * @param network   the caller's network (not modified), or {@code null} to build the zoo model {@code --model}
     * @param listeners progress listeners
     */
    public TrainingJob(TrainOptions options, ComputationGraph network, List<ProgressListener> listeners) {
        this.options = options;
        this.network = network;
        this.listeners = List.copyOf(listeners);
    }

    /** Trains on {@code input}; the context is left as it was found (listeners removed, cached records released). */
    public <R extends Serializable> TrainResult train(JavaSparkContext sc, TrainingInput<R> input) {
        if (options.hasAutomaticChoices()) {
            // Decided before anything is built: the recipe, the resume checks and the run's summary see the decision.
            ActivationLayout resumed = ResumePoint.checkpointLayout(options,
                    new CheckpointStore(options.get(CHECKPOINT_DIR), sc.hadoopConfiguration()), sc.hadoopConfiguration());
            boolean cuda = Backend.cudaBuilt();
            TrainOptions laidOut = options.withAutomaticLayout(network != null, cuda, resumed);
            long conversionBytes = network == null && laidOut.get(CONV_KERNELS).equals(AUTO) ? nchwConversionBytes(laidOut, input) : 0;
            TrainOptions decided = laidOut.withAutomaticConvKernels(network != null, cuda, conversionBytes);
            LOG.info("{} {}, {} {}{}{}", LAYOUT.flag(), decided.get(LAYOUT), CONV_KERNELS.flag(), decided.get(CONV_KERNELS),
                    resumed != null && options.get(LAYOUT).equals(AUTO) ? " (the layout of the checkpoint it resumes)" : "",
                    conversionBytes > 0 ? String.format(" (NCHW convolutions on OneDNN need %.1f MB of conversion buffers per replica)",
                            conversionBytes / 1048576.0) : "");
            return new TrainingJob(decided, network, listeners).train(sc, input);
        }
        LOG.info("OneDNN layer helpers {}", OneDnn.helpersActive() ? "active" : "NOT active (convolutions will be slow)");
        int replicas = options.get(REPLICAS);
        checkContext(sc, replicas);
        ModelRecipe recipe = recipe(input);
        ComputationGraph initial = initialModel(recipe, sc);
        FreezePlan freeze = null;
        Map<String, FrozenLayers.LayerTraining> frozenTraining = Map.of();
        Map<String, Double> multipliers = Map.of();
        boolean freezing = !options.get(FREEZE).equals(ModelLayers.NONE);
        // The layer names come from the model the job starts from (the recipe's, when built on the executors).
        ComputationGraph reference = freezing || options.get(LR_MULTIPLIERS) != null
                ? (initial != null ? initial : recipe.build()) : null;
        if (reference != null) {
            multipliers = LearningRateMultipliers.resolve(options.get(LR_MULTIPLIERS), ModelLayers.of(reference));
            if (!multipliers.isEmpty() && network != null && !options.isSet(LR)) {
                throw new UserError(LR_MULTIPLIERS.flag() + " scales the scheduled rate, but your network keeps its own rates"
                        + " unless " + LR.flag() + " is set; set " + LR.flag());
            }
        }
        if (freezing) {
            freeze = FreezePlan.of(options, ModelLayers.of(reference));
            frozenTraining = FrozenLayers.trainingOf(reference, freeze.initial());
            initial = FrozenLayers.configure(reference, freeze.initial());
            FrozenLayers layout = FrozenLayers.of(initial, freeze.initial());
            LOG.info("--freeze {}: {} layers fixed ({} of {} parameters); the replicas exchange the other {}", options.get(FREEZE),
                    freeze.initial().size(), layout.frozenCount(), initial.numParams(), layout.trainableCount());
        }
        List<TrainingListener> userListeners = userListeners();
        String interruptBefore = sc.getLocalProperty("spark.job.interruptOnCancel");
        sc.setLocalProperty("spark.job.interruptOnCancel", "true");
        RecordLayout<R> layout = new RecordLayout<>(sc, input, replicas);
        StageRetries retries = new StageRetries();
        ProgressAccumulator progress = new ProgressAccumulator();
        sc.sc().register(progress, "lockstep: rank 0 position (epoch, step, loss, images/s)");
        ProgressRelay relay = new ProgressRelay(progress, replicas, listeners);
        sc.sc().addSparkListener(retries);
        sc.sc().addSparkListener(relay);
        try {
            return new Run<>(sc, input, recipe, initial, freeze, frozenTraining, multipliers, userListeners, layout, retries, progress, relay).execute();
        } finally {
            sc.sc().removeSparkListener(relay);
            sc.sc().removeSparkListener(retries);
            layout.release();
            sc.setLocalProperty("spark.job.interruptOnCancel", interruptBefore);
        }
    }

    /** The state of one call of {@link #train}: the epoch loop, reporting and model export. */
    private final class Run<R extends Serializable> {
        private final JavaSparkContext sc;
        private final TrainingInput<R> input;
        private final ModelRecipe recipe;
        private final ComputationGraph initial;
        private final FreezePlan freeze;
        private final Map<String, FrozenLayers.LayerTraining> frozenTraining;
        private final Map<String, Double> multipliers;
        private final List<TrainingListener> userListeners;
        private final RecordLayout<R> layout;
        private final StageRetries retries;
        private final ProgressAccumulator progress;
        private final ProgressRelay relay;
        private final int replicas = options.get(REPLICAS);
        private final String jobId = UUID.randomUUID().toString();
        // With spark.authenticate on, each executor derives the job's secret from Spark's own secret: nothing
        // secret travels with the tasks. Otherwise a random secret goes with them, as trusted as Spark's RPC.
        private final boolean sparkAuthenticates;
        private final JobSecret secret;
        private final WireSecurity wireSecurity;
        private final CheckpointStore checkpoints;
        private final List<EpochResult> history = new ArrayList<>();
        private final List<String> skippedOnExecutors = new ArrayList<>();
        private RunMonitor monitor;
        private TaskProgress taskProgress;
        private long images;

        Run(JavaSparkContext sc, TrainingInput<R> input, ModelRecipe recipe, ComputationGraph initial, FreezePlan freeze,
            Map<String, FrozenLayers.LayerTraining> frozenTraining, Map<String, Double> multipliers,
            List<TrainingListener> userListeners,
            RecordLayout<R> layout, StageRetries retries, ProgressAccumulator progress, ProgressRelay relay) {
            this.sc = sc;
            this.input = input;
            this.recipe = recipe;
            this.initial = initial;
            this.freeze = freeze;
            this.frozenTraining = frozenTraining;
            this.multipliers = multipliers;
            this.userListeners = userListeners;
            this.layout = layout;
            this.retries = retries;
            this.progress = progress;
            this.relay = relay;
            this.checkpoints = new CheckpointStore(options.get(CHECKPOINT_DIR), sc.hadoopConfiguration());
            this.sparkAuthenticates = sc.getConf().getBoolean("spark.authenticate", false);
            this.secret = sparkAuthenticates ? null : JobSecret.random();
            this.wireSecurity = wireSecurity(options.get(WIRE_SECURITY), sc.getConf());
            LOG.info("replica traffic: wire security {}{}, job secret {}, {}", wireSecurity.optionName(),
                    wireSecurity == WireSecurity.OFF ? ""
                            : " (AES-GCM by " + SealImplementation.inForce().displayName() + " in this JVM)",
                    sparkAuthenticates ? "derived from Spark's authentication secret on each executor" : "random, sent with the tasks",
                    collectiveSummary(options));
        }

        TrainResult execute() {
            long start = System.nanoTime();
            int removed = checkpoints.cleanPartial();
            if (removed > 0) {
                LOG.warn("removed {} partial checkpoint(s) left by an interrupted write", removed);
            }
            ResumePoint resume = ResumePoint.find(options, checkpoints, sc.hadoopConfiguration());
            String startFrom = resume.checkpoint();
            if (startFrom != null) {
                LOG.info("resuming from {}: epoch {}, step {}", startFrom, resume.epoch() + 1, resume.stepInEpoch());
            } else if (initial != null) {
                startFrom = writeInitialCheckpoint();
            }
            SerializableHadoopConf hadoopConf = new SerializableHadoopConf(sc.hadoopConfiguration());
            int threads = threadsPerReplica();
            long globalStep = resume.globalStep();
            int resumeStep = resume.stepInEpoch();
            try (RunOutput out = new RunOutput(options.get(OUT), sc.hadoopConfiguration(), resume.checkpoint() != null)) {
                monitor = new RunMonitor(out, checkpoints, replicas, options.get(METRICS_EVERY), options.get(STALL_FACTOR),
                        options.get(CHECKPOINT_EVERY));
                taskProgress = monitor.start(sc, progress, options, input.classNames());
                try {
                    return trainEpochs(out, resume, startFrom, hadoopConf, threads, globalStep, resumeStep, start);
                } finally {
                    monitor.stop(sc);
                }
            }
        }

        private TrainResult trainEpochs(RunOutput out, ResumePoint resume, String startFrom, SerializableHadoopConf hadoopConf,
                                        int threads, long globalStep, int resumeStep, long start) {
            {
                for (int epoch = resume.epoch(); epoch < options.get(EPOCHS); epoch++) {
                    EpochPlan plan = new EpochPlan(options.get(SEED), epoch, replicas, layout.trainSize(), options.get(BATCH_SIZE));
                    int steps = options.get(MAX_STEPS_PER_EPOCH) > 0
                            ? Math.min(options.get(MAX_STEPS_PER_EPOCH), plan.stepsPerEpoch()) : plan.stepsPerEpoch();
                    StageSpec spec = stageSpec(epoch, steps, startFrom, resumeStep, threads, globalStep);
                    monitor.startEpoch(sc, options, recipe.architecture(), epoch, steps);
                    List<EpochReport> reports = runStage(plan, spec, hadoopConf);
                    EpochSummary summary = EpochSummary.of(reports, replicas);
                    monitor.finishEpoch(epoch, summary);
                    images += (long) (steps - resumeStep) * options.get(BATCH_SIZE) * replicas;
                    globalStep += steps - resumeStep;
                    resumeStep = 0;
                    startFrom = checkpoints.latest().orElseThrow(() -> new IllegalStateException("rank 0 reported the epoch done"
                            + " but wrote no checkpoint in " + options.get(CHECKPOINT_DIR))).path();
                    EpochResult result = new EpochResult(epoch, options.get(EPOCHS), summary.meanLoss(), summary.testAccuracy(),
                            summary.imagesPerSecond(), summary.computeShare(), summary.normSyncShare(), summary.exchangeShare(),
                            summary.dataWaitShare(), startFrom);
                    history.add(result);
                    LOG.info("epoch {}/{}: loss {}, test accuracy {}, {} img/s", epoch + 1, options.get(EPOCHS),
                            summary.meanLoss(), summary.testAccuracy(), Math.round(summary.imagesPerSecond()));
                    listeners.forEach(l -> l.epochFinished(result));
                }
                double wall = (System.nanoTime() - start) / 1e9;
                CheckpointStore.Checkpoint last = checkpoints.latest().orElseThrow();
                // A zoo model trained in NHWC is exported as its NCHW build (no NHWC layers, no input conversion), so a
                // model file does not depend on the layout it trained in. The caller's own network keeps its own form.
                ComputationGraph trained = recipe.layout() == ActivationLayout.NHWC
                        ? ActivationLayouts.toNchw(checkpoints.loadModel(last)) : checkpoints.loadModel(last);
                File modelFile = exportModel(trained, out);
                writeSummary(out, wall, resume);
                monitor.writeReport(out, sc);
                TrainResult result = new TrainResult(trained, trained, List.copyOf(history), out.uri(),
                        out.uri() + "/" + RunOutput.MODEL, checkpoints.uri(), wall, images / wall);
                LOG.info("trained {} epochs in {} s; model in {} (local copy {})", options.get(EPOCHS), Math.round(wall),
                        result.modelFile(), modelFile);
                return result;
            }
        }

        private StageSpec stageSpec(int epoch, int steps, String startFrom, int resumeStep, int threads, long globalStep) {
            LearningRateSchedule schedule = new LearningRateSchedule(options.get(LR),
                    LearningRateSchedule.Scaling.valueOf(options.get(LR_SCALING).toUpperCase(Locale.ROOT)), replicas,
                    options.get(WARMUP_EPOCHS), steps,
                    LearningRateSchedule.Decay.valueOf(options.get(LR_DECAY).toUpperCase(Locale.ROOT)), options.get(EPOCHS));
            return new StageSpec(jobId, secret, epoch, replicas, options.get(BATCH_SIZE), steps, recipe, options.get(NORM),
                    schedule, options.get(CHECK_EVERY), options.get(DATA_TIMEOUT_MS), options.get(COLLECTIVE_TIMEOUT_MS),
                    options.get(EVAL_BATCH_SIZE), checkpoints.uri(), startFrom, resumeStep, options.get(KEEP_CHECKPOINTS),
                    threads, options.get(SEED), globalStep, input.classNames(), options.asMap(), options.get(CHECKPOINT_EVERY),
                    options.get(ON_NAN), options.get(EXCHANGE), options.exchangeSettings(), userListeners,
                    network == null || options.isSet(LR), wireSecurity,
                    freeze == null ? List.of() : freeze.frozenIn(epoch), frozenTraining, multipliers,
                    options.collectiveSettings(), ConvolutionKernels.parse(options.get(CONV_KERNELS)));
        }

        private List<EpochReport> runStage(EpochPlan plan, StageSpec spec, SerializableHadoopConf hadoopConf) {
            Broadcast<EpochPlan> planBroadcast = sc.broadcast(plan);
            listeners.forEach(l -> l.epochStarted(spec.epoch(), options.get(EPOCHS), spec.stepsPerEpoch()));
            relay.startEpoch(spec.epoch());
            List<EpochReport> reports;
            try {
                @SuppressWarnings({"unchecked", "rawtypes"})
                JavaRDD<EpochReport> stage = BarrierStages.mapPartitions((JavaRDD) layout.routed(planBroadcast,
                                spec.stepsPerEpoch() * spec.batchPerReplica()).rdd().toJavaRDD(),
                        new ReplicaStage<>(spec, input.decoder(), hadoopConf, taskProgress), EpochReport.class);
                stage = GpuScheduling.onePerReplica(stage, sc.getConf());
                // The shuffle makes the barrier stage a ShuffleMapStage, which Spark reruns as a whole
                // when an executor is lost (a barrier ResultStage would abort the job instead).
                reports = new ArrayList<>(stage.mapToPair(r -> new Tuple2<>(r.rank(), r))
                        .partitionBy(new HashPartitioner(1)).values().collect());
                reports.sort(Comparator.comparingInt(EpochReport::rank));
            } finally {
                planBroadcast.destroy();
            }
            for (EpochReport report : reports) {
                if (report.failure() != null) {
                    String lastGood = checkpoints.latest().map(CheckpointStore.Checkpoint::path).orElse("none yet");
                    throw new TrainingStoppedException(report.failure() + "; last good checkpoint: " + lastGood
                            + " (continue from it with --resume after fixing the cause)");
                }
                for (String skipped : report.skippedRecords()) {
                    skippedOnExecutors.add("epoch " + (spec.epoch() + 1) + ", replica " + report.rank() + ": " + skipped);
                }
            }
            return reports;
        }

        /**
         * The caller's network (with plain BatchNorm and its own updater state) or the model loaded with
         * {@code --init-from}, as the job's first checkpoint.
         */
        private String writeInitialCheckpoint() {
            // Listeners travel in the stage spec (a model file holds none); clearing them on a clone would
            // clear the caller's, which DL4J's clone shares.
            return checkpoints.save(initial, new CheckpointMeta(0, 0, 0, options.get(SEED), recipe, input.classNames(),
                    options.get(NORM), options.asMap()), options.get(KEEP_CHECKPOINTS)).path();
        }

        private File exportModel(ComputationGraph trained, RunOutput out) {
            try {
                File local = Files.createTempFile("lockstep-model", ".zip").toFile();
                local.deleteOnExit();
                ModelFile.write(trained, new ModelFile.Info(recipe.architecture(), input.classNames(),
                        input.shape().channels(), input.shape().height(), input.shape().width(), options.get(NORM),
                        options.get(EPOCHS), lastAccuracy(), input.transform()), local);
                out.model(local.toPath());
                return local;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the final model: " + e.getMessage(), e);
            }
        }

        /**
         * Each replica's host as its step metrics reported it; where some never reported (a short run between
         * two heartbeats) and the application runs on a single host (local mode), every replica ran there.
         */
        private Map<Integer, String> replicaHosts() {
            Map<Integer, String> hosts = monitor.hostsByRank();
            if (hosts.size() < replicas) {
                java.util.Set<String> executorHosts = new java.util.TreeSet<>();
                for (org.apache.spark.SparkExecutorInfo info : sc.sc().statusTracker().getExecutorInfos()) {
                    executorHosts.add(info.host());
                }
                if (executorHosts.size() == 1) {
                    for (int rank = 0; rank < replicas; rank++) {
                        hosts.putIfAbsent(rank, executorHosts.iterator().next());
                    }
                }
            }
            return hosts;
        }

        private double lastAccuracy() {
            return history.isEmpty() ? Double.NaN : history.get(history.size() - 1).testAccuracy();
        }

        private void writeSummary(RunOutput out, double wall, ResumePoint resume) {
            Map<String, Object> summary = new LinkedHashMap<>();
            summary.put("model", recipe.architecture());
            summary.put("epochs", options.get(EPOCHS));
            summary.put("replicas", replicas);
            summary.put("normalization", options.get(NORM));
            summary.put("exchange", options.get(EXCHANGE));
            summary.put("wire_security", wireSecurity.optionName());
            // What the driver's JVM resolved; each executor logs its own choice when it first seals.
            summary.put("wire_security_implementation", wireSecurity == WireSecurity.OFF ? "none"
                    : SealImplementation.inForce().displayName());
            summary.put("collective", collectiveSummary(options, replicaHosts(), replicas));
            summary.put("job_secret", sparkAuthenticates ? "spark.authenticate" : "random");
            summary.put("test_accuracy", lastAccuracy());
            summary.put("test_accuracy_per_epoch", history.stream().map(EpochResult::testAccuracy).toList());
            summary.put("wall_seconds", wall);
            summary.put("stage_retries", retries.count());
            summary.put("stage_retry_details", retries.details());
            summary.put("stragglers", monitor.stragglers());
            summary.put("resumed_from", resume.checkpoint());
            input.describeTo(summary, skippedOnExecutors);
            summary.put("images_per_second", images / wall);
            summary.put("images_trained", images);
            summary.put("output", out.uri());
            summary.put("job", options.asMap());
            out.summary(summary);
        }

        private int threadsPerReplica() {
            if (options.get(THREADS_PER_REPLICA) > 0) {
                return options.get(THREADS_PER_REPLICA);
            }
            if (sc.master().startsWith("local")) {
                return Math.max(1, Runtime.getRuntime().availableProcessors() / replicas);
            }
            return sc.getConf().getInt("spark.task.cpus", 1);
        }
    }

    /**
     * How the model is (re)built on the executors. A zoo model is built from its recipe, on the driver
     * first so a model that cannot take this input fails here with a clear message. The caller's
     * network must output one unit per label.
     */
    private ModelRecipe recipe(TrainingInput<?> input) {
        int classes = input.classNames().size();
        if (network != null) {
            int outputs = Networks.outputSize(network);
            if (outputs != classes) {
                throw new UserError("the network's output layer has " + outputs + " units but the data has " + classes
                        + " label columns; set the output layer's nOut to " + classes + " (or fix the labels)");
            }
            return new ModelRecipe(Networks.CUSTOM, classes, input.shape().channels(), input.shape().height(),
                    input.shape().width(), Normalization.BATCH, options.get(SEED), Optimizer.parse(options.get(OPTIMIZER)),
                    options.get(LR), options.get(WEIGHT_DECAY));
        }
        ModelRecipe recipe = zooRecipe(options, input);
        recipe.build();
        return recipe;
    }

    /** The recipe of the zoo model {@code options} name, for {@code input}; nothing built yet. */
    private static ModelRecipe zooRecipe(TrainOptions options, TrainingInput<?> input) {
        return new ModelRecipe(options.get(MODEL), input.classNames().size(), input.shape().channels(), input.shape().height(),
                input.shape().width(), options.modelNormalization(), options.get(SEED), Optimizer.parse(options.get(OPTIMIZER)),
                options.get(LR), options.get(WEIGHT_DECAY), options.normGroups(), options.activationLayout());
    }

    /** What OneDNN's direct convolutions would need in conversion buffers per replica for the zoo model of {@code options}. */
    private static long nchwConversionBytes(TrainOptions options, TrainingInput<?> input) {
        ModelRecipe recipe = zooRecipe(options, input);
        InputShape shape = recipe.inputShape();
        return DnnlConvolution.nchwBufferBytes(recipe.resolve().configuration(recipe.options()),
                InputType.convolutional(shape.height(), shape.width(), shape.channels()), options.get(BATCH_SIZE));
    }

    /**
     * The model the first stage starts from when it is not built from the recipe on the executors: the
     * caller's network, or the weights of {@code --init-from} in the job's model (its head fresh with
     * {@code --replace-head}); {@code null} for a zoo model from random initialization.
     */
    private ComputationGraph initialModel(ModelRecipe recipe, JavaSparkContext sc) {
        String from = options.get(INIT_FROM);
        if (from == null) {
            return network;
        }
        int replaceHead = options.get(REPLACE_HEAD);
        if (replaceHead > 0 && replaceHead != recipe.numClasses()) {
            throw new UserError(REPLACE_HEAD.flag() + " " + replaceHead + ": the dataset has " + recipe.numClasses()
                    + " classes; give --replace-head " + recipe.numClasses());
        }
        ComputationGraph target = network != null ? network.clone() : recipe.build();
        String description = (network != null ? "your network" : recipe.architecture()) + " for " + recipe.channels() + "x"
                + recipe.height() + "x" + recipe.width() + " input and " + recipe.numClasses() + " classes";
        LOG.info("initializing {} from {}{}", description, from, replaceHead > 0 ? ", with a new output layer" : "");
        return InitialWeights.load(from, target, description, network != null ? null : recipe.architecture(),
                network != null ? null : recipe.options(), replaceHead > 0, sc.hadoopConfiguration());
    }

    /** The caller's DL4J listeners, which run on rank 0's replica and so must be serializable. */
    private List<TrainingListener> userListeners() {
        if (network == null || network.getListeners() == null) {
            return List.of();
        }
        List<TrainingListener> kept = new ArrayList<>();
        for (TrainingListener listener : network.getListeners()) {
            if (!(listener instanceof Serializable)) {
                throw new UserError("the network's listener " + listener.getClass().getName() + " is not Serializable;"
                        + " it runs on an executor, so make it implement java.io.Serializable (or remove it)");
            }
            kept.add(listener);
        }
        return kept;
    }

    /**
     * Fails fast when Spark cannot run the job's barrier stages: dynamic allocation on, fewer task slots
     * than replicas, GPUs requested but missing or shared ({@link ClusterPreflight}, on the executors'
     * cores and GPUs as Lockstep's listener saw them register). A caller's own context, created without
     * that listener, is checked on the slot count Spark's own barrier check uses.
     */
    private void checkContext(JavaSparkContext sc, int replicas) {
        if (ExecutorRegistry.find(sc.sc()).isPresent()) {
            ClusterPreflight.check(sc, replicas, options.get(SLOT_WAIT_MS));
            return;
        }
        ClusterPreflight.checkSettings(sc.getConf());
        long deadline = System.nanoTime() + (sc.master().startsWith("local") ? 0 : options.get(SLOT_WAIT_MS) * 1_000_000L);
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
                    + slots + " (registered executors' cores / spark.task.cpus, after waiting up to " + options.get(SLOT_WAIT_MS)
                    + " ms for executors); add executors or cores, or lower --replicas");
        }
    }

    /** The number Spark's own barrier-stage check uses: tasks the registered executors can run at once. */
    private static int concurrentTaskSlots(JavaSparkContext sc) {
        return sc.sc().maxNumConcurrentTasks(sc.sc().resourceProfileManager().defaultResourceProfile());
    }

    /** The replicas' link settings as {@code summary.json} and the log show them. */
    static Map<String, Object> collectiveSummary(TrainOptions options) {
        Map<String, Object> collective = new LinkedHashMap<>();
        collective.put("wire_compression", options.get(WIRE_COMPRESSION));
        collective.put("transport", options.get(TRANSPORT));
        collective.put("network_interface", options.get(NETWORK_INTERFACE) == null ? "executor host"
                : options.get(NETWORK_INTERFACE));
        collective.put("mtu_bytes", options.get(MTU));
        collective.put("idle_strategy", options.get(IDLE_STRATEGY));
        collective.put("allreduce_topology", options.get(ALLREDUCE_TOPOLOGY));
        collective.put("shared_memory", options.get(SHARED_MEMORY));
        return collective;
    }

    /**
     * {@link #collectiveSummary} plus the all-reduce shape the replicas took, decided as they decide it
     * from the hosts they ran on (each replica also logs its own decision when it connects).
     */
    static Map<String, Object> collectiveSummary(TrainOptions options, Map<Integer, String> hostsByRank, int replicas) {
        Map<String, Object> collective = collectiveSummary(options);
        if (hostsByRank.size() < replicas) {
            collective.put("allreduce_in_force", "unknown: not every replica reported its host");
            return collective;
        }
        List<String> hosts = new ArrayList<>();
        for (int rank = 0; rank < replicas; rank++) {
            hosts.add(hostsByRank.get(rank));
        }
        try {
            HostLayout layout = HostLayout.ofHosts(AllReduceTopology.parse(options.get(ALLREDUCE_TOPOLOGY)), hosts);
            // As AeronCollective decides: shared memory when every replica is on one host and links may use it.
            boolean shared = options.get(SHARED_MEMORY).equals("on") && !options.get(TRANSPORT).equals("udp")
                    && replicas > 1 && layout.hosts() == 1;
            collective.put("allreduce_in_force", shared ? "shared memory" : layout.shape());
            collective.put("allreduce_reason", shared ? "every replica runs on one host (--shared-memory on)"
                    : layout.reason());
        } catch (CollectiveException impossible) {
            collective.put("allreduce_in_force", "none: " + impossible.getMessage());
        }
        return collective;
    }

    /** {@code auto} follows Spark: encrypt when Spark encrypts its own RPC, otherwise authenticate. */
    static WireSecurity wireSecurity(String option, SparkConf conf) {
        if ("auto".equals(option)) {
            return conf.getBoolean("spark.network.crypto.enabled", false) ? WireSecurity.ENCRYPT : WireSecurity.AUTHENTICATE;
        }
        WireSecurity chosen = WireSecurity.parse(option);
        if (chosen != WireSecurity.ENCRYPT && conf.getBoolean("spark.network.crypto.enabled", false)) {
            LOG.warn("spark.network.crypto.enabled is true but --wire-security {} sends the replicas' gradients "
                    + "unencrypted; use --wire-security encrypt (or auto) to encrypt them too", option);
        }
        return chosen;
    }

    /**
     * Where records live during the job: training records by index, cached serialized on the executors
     * (spilling to disk), and test records already keyed for their replica. Each epoch routes the
     * training records by its plan through a sorted shuffle, so every replica receives its shard in plan
     * order (step, then slot) and then its test records, and streams them batch by batch.
     */
    static final class RecordLayout<R extends Serializable> {
        private final JavaPairRDD<Integer, R> train;
        private final JavaPairRDD<Long, ShardItem<R>> testRouted;
        private final boolean cachedHere;
        private final int trainSize;
        private final int replicas;

        RecordLayout(JavaSparkContext sc, TrainingInput<R> input, int replicas) {
            this.replicas = replicas;
            this.trainSize = input.trainSize();
            JavaPairRDD<Integer, R> records = input.train(sc, replicas);
            this.cachedHere = !input.cachesItself() && records.getStorageLevel().equals(StorageLevel.NONE());
            this.train = cachedHere ? records.persist(StorageLevel.MEMORY_AND_DISK_SER()) : records;
            this.testRouted = input.test(sc, replicas)
                    .mapToPair(t -> new Tuple2<>(ShardKeys.key(t._1() % replicas, true, t._1() / replicas),
                            new ShardItem<>(true, t._1() / replicas, t._2())))
                    .persist(StorageLevel.MEMORY_AND_DISK_SER());
        }

        int trainSize() {
            return trainSize;
        }

        /** This epoch's records, one sorted partition per replica (the plan decides; records beyond {@code shardLimit} stay out). */
        JavaPairRDD<Long, ShardItem<R>> routed(Broadcast<EpochPlan> plan, int shardLimit) {
            return ShardKeys.sortedByReplica(train.flatMapToPair(t -> route(plan.value(), t, shardLimit)).union(testRouted),
                    replicas);
        }

        private static <R> java.util.Iterator<Tuple2<Long, ShardItem<R>>> route(EpochPlan plan, Tuple2<Integer, R> record,
                                                                                int shardLimit) {
            int replica = plan.replicaOf(record._1());
            if (replica < 0) {
                return java.util.Collections.emptyIterator();
            }
            int order = plan.orderInShard(record._1());
            if (order >= shardLimit) {
                return java.util.Collections.emptyIterator();
            }
            return List.of(new Tuple2<>(ShardKeys.key(replica, false, order), new ShardItem<>(false, order, record._2()))).iterator();
        }

        void release() {
            if (cachedHere) {
                train.unpersist(false);
            }
            testRouted.unpersist(false);
        }
    }
}
