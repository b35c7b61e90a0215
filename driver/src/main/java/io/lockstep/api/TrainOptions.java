package io.lockstep.api;

import io.lockstep.driver.data.DistributedDataset;
import io.lockstep.models.ActivationLayout;
import io.lockstep.models.Architecture;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.models.Normalization;
import io.lockstep.worker.comm.AllReduceTopology;
import io.lockstep.worker.comm.IdleMode;
import io.lockstep.worker.comm.TransportMode;
import io.lockstep.worker.comm.WireCompression;
import io.lockstep.worker.exchange.ExchangeSettings;
import io.lockstep.worker.exchange.ExchangeStrategies;
import io.lockstep.worker.spark.CollectiveSettings;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A training job's options: the catalog of every option (the {@code public static final} definitions
 * below, in {@code --help} order) and an immutable set of values for them.
 *
 * <p>Values come from the Java API ({@link #with}), the command line, a job file or
 * {@code spark.lockstep.*} properties ({@link #withText}, {@link #fromProperties}); an option not set
 * takes its default, or for a few options a value derived from the others (documented on the option).
 * {@link #validate()} reports every problem at once, each naming the option and the fix.
 *
 * <p>To add an option, add one {@code define(...)} constant here: the CLI flag, {@code --help}, job
 * files, Spark properties, the API and validation all follow from it. Read it where it is used with
 * {@code options.get(TrainOptions.NAME)}.
 *
 * <pre>{@code
 * TrainOptions options = TrainOptions.defaults()
 *         .with(TrainOptions.EPOCHS, 3)
 *         .with(TrainOptions.REPLICAS, 2)
 *         .with(TrainOptions.BATCH_SIZE, 32);
 * }</pre>
 */
public final class TrainOptions {
    /** The value of {@link #LAYOUT} and {@link #CONV_KERNELS} that leaves the choice to the job ({@link #withAutomaticLayout}, {@link #withAutomaticConvKernels}). */
    public static final String AUTO = "auto";
    /**
     * Most bytes of conversion buffers (per training thread) that {@code --conv-kernels auto} spends on
     * OneDNN's direct convolutions for an NCHW network; above it the network stays on DL4J's layer.
     */
    public static final long AUTO_NCHW_CONVERSION_LIMIT = 256L << 20;

    private static final List<OptionDef<?>> CATALOG = new ArrayList<>();

    private static <T> OptionDef<T> define(OptionDef<T> option) {
        CATALOG.add(option);
        return option;
    }

    public static final OptionDef<String> MODEL = define(OptionDef.text("model", "lenet5",
            "Model name (see `lockstep models`); the Java API also takes your own network instead."));
    public static final OptionDef<String> DATA = define(OptionDef.text("data", null,
            "Dataset directory on any Hadoop filesystem (file://, hdfs://, s3a:// or a local path).").label("URI"));
    /** Where datasets are read unless {@code --read-on} says otherwise; the inference commands share it. */
    public static final String DEFAULT_READ_ON = "executors";
    /** What {@code --read-on} means, for every command that takes it. */
    public static final String READ_ON_DOC = "Where a --data dataset is read: executors (the driver only lists the files; "
            + "executors read them near the data and cache them in memory and on disk, so a dataset larger than the driver's "
            + "memory works) or driver (read once by the driver, then sent to the executors: for a dataset that fits the driver "
            + "on a filesystem only the driver can reach). Parquet datasets and tar shards are always read on the executors.";
    public static final OptionDef<String> READ_ON = define(OptionDef.choice("read-on", DEFAULT_READ_ON, READ_ON_DOC,
            "driver", "executors"));
    public static final OptionDef<String> IMAGE_COLUMN = define(OptionDef.text("image-column", DistributedDataset.DEFAULT_IMAGE_COLUMN,
            "Parquet datasets: the column of encoded images (PNG/JPEG bytes).").label("NAME"));
    public static final OptionDef<String> LABEL_COLUMN = define(OptionDef.text("label-column", DistributedDataset.DEFAULT_LABEL_COLUMN,
            "Parquet datasets: the column of labels, class indices (integers) or class names (strings).").label("NAME"));
    public static final OptionDef<String> OUT = define(OptionDef.text("out", "lockstep-out",
            "Output directory: metrics.jsonl, summary.json, model.zip, checkpoints/.").label("DIR"));
    public static final OptionDef<Integer> EPOCHS = define(OptionDef.integer("epochs", 5, "Epochs to train.").positive());
    public static final OptionDef<Integer> BATCH_SIZE = define(OptionDef.integer("batch-size", 64,
            "Examples per replica per step (global batch = replicas x this).").positive());
    public static final OptionDef<Double> LR = define(OptionDef.decimal("lr", 0.01,
            "Base learning rate (for one replica; see --lr-scaling). With your own network in the Java API, its "
                    + "updaters' rates are kept unless this is set.").positive());
    public static final OptionDef<String> OPTIMIZER = define(OptionDef.choice("optimizer", "nesterov",
            "sgd, nesterov (momentum 0.9) or adam (zoo models; your own network keeps its updater).", "sgd", "nesterov", "adam"));
    public static final OptionDef<Double> WEIGHT_DECAY = define(OptionDef.decimal("weight-decay", 0.0,
            "Weight decay on weights (not biases or BatchNorm; zoo models).").nonNegative());
    public static final OptionDef<Long> SEED = define(OptionDef.longInteger("seed", 42L,
            "Seed for initialization, shuffling and augmentation."));
    public static final OptionDef<Integer> REPLICAS = define(OptionDef.integer("replicas", 1,
            "Synchronous replicas, one Spark task each.").positive());
    public static final OptionDef<String> MASTER = define(OptionDef.text("master", null,
            "Spark master; default: the one spark-submit set, else local[replicas]. Ignored by the Java API, "
                    + "which uses the caller's SparkContext.")
            .derivedFrom(o -> {
                String fromSubmit = System.getProperty("spark.master");
                return fromSubmit != null ? fromSubmit : "local[" + o.get(TrainOptions.REPLICAS) + "]";
            }));
    public static final OptionDef<String> NORM = define(OptionDef.text("norm", null,
                    "batch, sync-batch, group (group:G for G groups, default " + ModelOptions.DEFAULT_NORM_GROUPS
                            + "), layer, instance or none, where the model has BatchNorm; default: sync-batch when "
                            + "replicas > 1, else batch.")
            .check(TrainOptions::isNormalization, "use batch, sync-batch, group, group:G (G at least 1), layer, instance or none")
            .derivedFrom(o -> o.get(TrainOptions.REPLICAS) > 1 ? "sync-batch" : "batch"));
    public static final OptionDef<String> LR_SCALING = define(OptionDef.choice("lr-scaling", "linear",
            "linear (rate x replicas, Goyal et al. 2017) or none.", "linear", "none"));
    public static final OptionDef<String> LR_DECAY = define(OptionDef.choice("lr-decay", "cosine",
            "cosine (half cosine to 0 over the run, after warm-up) or none.", "cosine", "none"));
    public static final OptionDef<Double> WARMUP_EPOCHS = define(OptionDef.decimal("warmup-epochs", 0.0,
            "Epochs of gradual warm-up to the scaled rate.").unit("epochs").nonNegative());
    public static final OptionDef<String> INIT_FROM = define(OptionDef.text("init-from", null,
            "Start from these weights instead of a random initialization: a Lockstep model.zip, a checkpoint directory, "
                    + "or a PyTorch state_dict saved as .safetensors (zoo models). Every layer's shapes must match the model; "
                    + "optimizer state starts fresh.").label("URI"));
    public static final OptionDef<Integer> REPLACE_HEAD = define(OptionDef.integer("replace-head", 0,
            "With --init-from: train a new output layer for CLASSES classes (the dataset's class count), initialized "
                    + "from --seed, instead of loading the file's (0: load it).").label("CLASSES").nonNegative());
    public static final OptionDef<String> FREEZE = define(OptionDef.text("freeze", "none",
            "Keep every layer up to and including this layer or stage fixed: no gradient, no optimizer state, BatchNorm "
                    + "on its running statistics, nothing exchanged for it (layer and stage names: lockstep models "
                    + "--layers MODEL; none: train every layer).").label("LAYER"));
    public static final OptionDef<String> UNFREEZE_SCHEDULE = define(OptionDef.text("unfreeze-schedule", null,
            "With --freeze: EPOCH:LAYER,... - from epoch EPOCH (1-based) on, LAYER and every later layer train (all: every "
                    + "layer), e.g. 2:layer3,4:layer2,6:all; epochs increasing, each unfreezing more.").label("SCHEDULE"));
    public static final OptionDef<String> LR_MULTIPLIERS = define(OptionDef.text("lr-multipliers", null,
            "Per-layer learning rates: NAME=X,... (layer or stage, e.g. conv1=0.01,layer1=0.1; others 1) or geometric:F "
                    + "(the head's stage 1, each earlier stage F times the next), times the scheduled rate (warm-up, decay).")
            .label("SPEC"));
    public static final OptionDef<Integer> CHECK_EVERY = define(OptionDef.integer("check-every", 100,
            "Compare a parameter checksum across replicas every N steps (0: never).").unit("steps").nonNegative());
    public static final OptionDef<String> CHECKPOINT_DIR = define(OptionDef.text("checkpoint-dir", null,
                    "Checkpoint directory (any Hadoop filesystem); default: OUT/checkpoints.").label("URI")
            .derivedFrom(o -> o.get(TrainOptions.OUT).replaceAll("/+$", "") + "/checkpoints"));
    public static final OptionDef<Integer> CHECKPOINT_EVERY = define(OptionDef.integer("checkpoint-every", 0,
            "Also checkpoint every STEPS steps within an epoch (0: only at epoch ends, which are always checkpointed: "
                    + "that is how the model crosses epochs).").unit("steps").nonNegative());
    public static final OptionDef<Boolean> RESUME = define(OptionDef.flag("resume",
            "Continue from the newest complete checkpoint in the checkpoint directory.").notRecorded());
    public static final OptionDef<String> RESUME_FROM = define(OptionDef.text("resume-from", null,
            "Continue from this checkpoint directory (checkpoint-EEEEE-SSSSSSSS).").label("URI").notRecorded());
    public static final OptionDef<String> ON_NAN = define(OptionDef.choice("on-nan", "stop",
            "stop (name the epoch, step and last good checkpoint) or skip-step.", "stop", "skip-step"));
    public static final OptionDef<String> EXCHANGE = define(OptionDef.choice("exchange", "allreduce",
            "Gradient exchange: allreduce (synchronous SGD), average (local SGD) or threshold.", "allreduce", "average", "threshold"));
    public static final OptionDef<String> WIRE_SECURITY = define(OptionDef.choice("wire-security", "auto",
            "Protection of the replicas' traffic: auth (every frame authenticated), encrypt (authenticated and AES-GCM "
                    + "encrypted), off, or auto: encrypt when spark.network.crypto.enabled is true, else auth.",
            "auto", "off", "auth", "encrypt"));
    public static final OptionDef<String> WIRE_COMPRESSION = define(OptionDef.choice("wire-compression", "none",
            "Gradients on the wire: none (fp32, exact), bf16 or fp16 (2 bytes per value: half the traffic; every replica "
                    + "still adds in fp32, so replicas stay identical). --exchange allreduce only; parameters and "
                    + "BatchNorm statistics always travel exact.", "none", "bf16", "fp16"));
    public static final OptionDef<String> TRANSPORT = define(OptionDef.choice("transport", "auto",
            "Replica links: auto (shared memory between replicas of one executor, UDP between executors) or udp "
                    + "(UDP everywhere).", "auto", "udp"));
    public static final OptionDef<String> ALLREDUCE_TOPOLOGY = define(OptionDef.choice("allreduce-topology", "auto",
            "Shape of the gradient all-reduce: flat (one ring over all replicas), hierarchical (reduce within each "
                    + "host, all-reduce across hosts one shard per replica, gather within each host: fewer steps and "
                    + "less traffic per replica between hosts) or auto: hierarchical when the replicas run on two or "
                    + "more hosts with the same number, two or more, on each; flat otherwise.",
            "auto", "flat", "hierarchical"));
    public static final OptionDef<String> SHARED_MEMORY = define(OptionDef.choice("shared-memory", "on",
            "When every replica runs on one host (one or more executors there), all-reduce through shared memory: each "
                    + "replica sums its shard straight out of the others' segments in /dev/shm (owner-only files, "
                    + "deleted at the end) instead of passing chunks around a ring. off keeps the ring. Ignored with "
                    + "--transport udp.", "on", "off"));
    public static final OptionDef<String> NETWORK_INTERFACE = define(OptionDef.text("network-interface", null,
            "Interface whose address each executor's replicas bind to (e.g. eth1 for a faster second network); "
                    + "default: the executor's host as Spark knows it.").label("NAME"));
    public static final OptionDef<Integer> MTU = define(OptionDef.integer("mtu", CollectiveSettings.defaults().mtuBytes(),
            "UDP frame size of replica traffic, a multiple of 32 in [256, 65504]; larger frames are fragmented by the "
                    + "kernel, so use 1408 where IP fragments are dropped.").unit("bytes")
            .check(m -> m >= 256 && m <= 65_504 && m % 32 == 0, "must be a multiple of 32 in [256, 65504]"));
    public static final OptionDef<String> IDLE_STRATEGY = define(OptionDef.choice("idle-strategy", "backoff",
            "How a replica waits for the network: backoff (spin, yield, then park up to 0.1 ms), busy-spin (lowest "
                    + "latency, burns a core: only with cores to spare), yielding or sleeping (least CPU, adds up to "
                    + "0.1 ms per wait).", "backoff", "busy-spin", "yielding", "sleeping"));
    public static final OptionDef<Integer> AVERAGE_EVERY = define(OptionDef.integer("average-every",
            ExchangeSettings.DEFAULT_AVERAGE_EVERY_STEPS, "--exchange average: local steps between averaging rounds.")
            .unit("steps").label("K"));
    public static final OptionDef<Long> AVERAGE_WARMUP_STEPS = define(OptionDef.longInteger("average-warmup-steps",
            ExchangeSettings.DEFAULT_AVERAGE_WARMUP_STEPS,
            "--exchange average: synchronous all-reduce for the first W steps (post-local SGD).").unit("steps").label("W"));
    public static final OptionDef<Double> THRESHOLD_INITIAL = define(OptionDef.decimal("threshold-initial",
            ExchangeSettings.DEFAULT_THRESHOLD_INITIAL, "--exchange threshold: initial threshold tau."));
    public static final OptionDef<Double> THRESHOLD_MIN_SENT_FRACTION = define(OptionDef.decimal("threshold-min-sent-fraction",
            ExchangeSettings.DEFAULT_THRESHOLD_MIN_SENT_FRACTION,
            "--exchange threshold: adapt tau so at least this fraction of entries is sent."));
    public static final OptionDef<Double> THRESHOLD_MAX_SENT_FRACTION = define(OptionDef.decimal("threshold-max-sent-fraction",
            ExchangeSettings.DEFAULT_THRESHOLD_MAX_SENT_FRACTION,
            "--exchange threshold: adapt tau so at most this fraction of entries is sent."));
    public static final OptionDef<String> OVERLAP = define(OptionDef.choice("overlap", "off",
            "--exchange allreduce: on sends gradient buckets while backward still runs, on a communication thread.",
            "off", "on"));
    public static final OptionDef<Double> BUCKET_SIZE = define(OptionDef.decimal("bucket-size",
            ExchangeSettings.DEFAULT_BUCKET_BYTES / (1024.0 * 1024.0),
            "--overlap on: gradient bucket size, in reverse layer order.").unit("MB").positive());
    public static final OptionDef<Integer> KEEP_CHECKPOINTS = define(OptionDef.integer("keep-checkpoints", 2,
            "Checkpoints to keep (0: all).").nonNegative());
    public static final OptionDef<Integer> THREADS_PER_REPLICA = define(OptionDef.integer("threads-per-replica", 0,
            "ND4J threads per replica (0: task CPUs, or cores / replicas in local mode).").nonNegative());
    public static final OptionDef<String> LAYOUT = define(OptionDef.choice("layout", AUTO,
            "Memory layout of the activations between layers: nchw; nhwc (channels innermost: OneDNN's own layout, "
                    + "so no conversion around each convolution; zoo models " + String.join(", ", nhwcArchitectures())
                    + " with --norm batch, sync-batch or none); or auto: nhwc where a CPU build can, nchw otherwise "
                    + "(your own network, other models or norms, the CUDA build), and a resumed run keeps its "
                    + "checkpoint's layout. Parameters, checkpoints' weights and the exported model do not depend on it.",
            AUTO, "nchw", "nhwc"));
    public static final OptionDef<String> CONV_KERNELS = define(OptionDef.choice("conv-kernels", AUTO,
            "What runs the convolutions on CPUs: dl4j (DL4J's layer and its OneDNN helper); dnnl (OneDNN's NHWC "
                    + "kernels called directly; NCHW activations are converted around each convolution; convolutions it "
                    + "does not cover stay on dl4j); or auto: dnnl for the zoo models, except an nchw network whose "
                    + "conversions would need more than " + (AUTO_NCHW_CONVERSION_LIMIT >> 20) + " MB of buffers per "
                    + "replica (VGG-16 at 224x224, batch 64: 2.3 GB); dl4j for your own network. Ignored on GPUs.", AUTO, "dl4j", "dnnl"));
    public static final OptionDef<Integer> EVAL_BATCH_SIZE = define(OptionDef.integer("eval-batch-size", 256,
            "Batch size for evaluation.").positive());
    public static final OptionDef<Long> COLLECTIVE_TIMEOUT_MS = define(OptionDef.longInteger("collective-timeout-ms", 120_000L,
            "Deadline of each collective operation between replicas.").unit("ms").atLeast(1000));
    public static final OptionDef<Long> DATA_TIMEOUT_MS = define(OptionDef.longInteger("data-timeout-ms", 120_000L,
            "Deadline for the prefetch thread to prepare a batch.").unit("ms").atLeast(1000));
    public static final OptionDef<Long> SLOT_WAIT_MS = define(OptionDef.longInteger("slot-wait-ms", 120_000L,
            "How long to wait for executors to offer --replicas slots.").unit("ms").nonNegative());
    public static final OptionDef<Integer> MAX_STEPS_PER_EPOCH = define(OptionDef.integer("max-steps-per-epoch", 0,
            "Cap on steps per epoch, for smoke tests (0: no cap).").unit("steps").nonNegative());

    public static final OptionDef<Integer> METRICS_EVERY = define(OptionDef.integer("metrics-every", 1,
            "Write every replica's timings of every STEPS-th step to metrics.jsonl as the run goes (and judge those "
                    + "steps for stalls).").unit("steps").label("STEPS").positive());
    public static final OptionDef<Double> STALL_FACTOR = define(OptionDef.decimal("stall-factor", 3.0,
            "Report a stall (slow rank, its host and phase) when a step takes more than X times the running median "
                    + "step time.").label("X").check(x -> x > 1 && Double.isFinite(x), "must be a number above 1"));
    public static final OptionDef<Boolean> NO_SPARK_UI = define(OptionDef.flag("no-spark-ui",
            "Do not serve the Spark UI (by default lockstep train serves it on spark.ui.port, 4040 or the next free "
                    + "one, with each epoch's jobs described; the Java API uses the caller's context as it is)."));

    private static final TrainOptions DEFAULTS = new TrainOptions(Map.of(), List.of());

    /** Every option, in {@code --help} order. */
    public static List<OptionDef<?>> all() {
        return Collections.unmodifiableList(CATALOG);
    }

    /** The option named {@code name} (without dashes), or {@code null}. */
    public static OptionDef<?> named(String name) {
        for (OptionDef<?> option : CATALOG) {
            if (option.name().equals(name)) {
                return option;
            }
        }
        return null;
    }

    private final Map<String, Object> values;
    private final List<String> textErrors;

    private TrainOptions(Map<String, Object> values, List<String> textErrors) {
        this.values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
        this.textErrors = List.copyOf(textErrors);
    }

    /** No option set: every option has its default. */
    public static TrainOptions defaults() {
        return DEFAULTS;
    }

    /** These options with {@code option} set to {@code value} ({@code null} unsets it). */
    public <T> TrainOptions with(OptionDef<T> option, T value) {
        Map<String, Object> next = new LinkedHashMap<>(values);
        if (value == null) {
            next.remove(option.name());
        } else {
            next.put(option.name(), value);
        }
        return new TrainOptions(next, textErrors);
    }

    /**
     * These options with the option {@code name} set from text, as a flag, job file or Spark property
     * gives it. An unknown name or unparseable text is kept as a problem for {@link #validate()}.
     */
    public TrainOptions withText(String name, String text) {
        OptionDef<?> option = named(name);
        if (option == null) {
            List<String> errors = new ArrayList<>(textErrors);
            errors.add("unknown option '" + name + "'; see `lockstep train --help` for the options");
            return new TrainOptions(values, errors);
        }
        try {
            Map<String, Object> next = new LinkedHashMap<>(values);
            next.put(name, option.parse(text));
            return new TrainOptions(next, textErrors);
        } catch (IllegalArgumentException e) {
            List<String> errors = new ArrayList<>(textErrors);
            errors.add(e.getMessage());
            return new TrainOptions(values, errors);
        }
    }

    /**
     * The options found among {@code properties} under {@code prefix} (e.g. {@code spark.lockstep.} in a
     * {@code SparkConf}); keys under the prefix that name no training option are left alone, since other
     * commands share the prefix.
     */
    public static TrainOptions fromProperties(Map<String, String> properties, String prefix) {
        TrainOptions options = DEFAULTS;
        for (Map.Entry<String, String> entry : properties.entrySet()) {
            if (entry.getKey().startsWith(prefix)) {
                String name = entry.getKey().substring(prefix.length());
                if (named(name) != null) {
                    options = options.withText(name, entry.getValue());
                }
            }
        }
        return options;
    }

    /** These options with every option set in {@code overrides} replaced by its value there. */
    public TrainOptions overriddenBy(TrainOptions overrides) {
        Map<String, Object> next = new LinkedHashMap<>(values);
        next.putAll(overrides.values);
        List<String> errors = new ArrayList<>(textErrors);
        errors.addAll(overrides.textErrors);
        return new TrainOptions(next, errors);
    }

    /** The option's value: as set, else its derived value or default (which may be {@code null}). */
    public <T> T get(OptionDef<T> option) {
        Object value = values.get(option.name());
        return value != null ? option.cast(value) : option.derive(this);
    }

    public boolean isSet(OptionDef<?> option) {
        return values.containsKey(option.name());
    }

    /** Every problem, each naming its option and what to give instead; empty when the options are valid. */
    public List<String> problems() {
        return problems(Set.of());
    }

    /**
     * Like {@link #problems()}, leaving out options the caller does not use (the Java API given a
     * network ignores {@link #MODEL}; given an RDD, {@link #DATA}).
     */
    public List<String> problems(Set<OptionDef<?>> unused) {
        List<String> problems = new ArrayList<>(textErrors);
        for (OptionDef<?> option : CATALOG) {
            if (!unused.contains(option)) {
                problems.addAll(check(option));
            }
        }
        if (!unused.contains(MODEL)) {
            try {
                ModelRegistry.get(get(MODEL));
            } catch (IllegalArgumentException e) {
                problems.add(MODEL.flag() + ": " + e.getMessage());
            }
        }
        problems.addAll(layoutProblems(unused.contains(MODEL)));
        if (!unused.contains(DATA) && (get(DATA) == null || get(DATA).isBlank())) {
            problems.add(DATA.flag() + ": give the dataset directory");
        }
        if (get(OUT) == null || get(OUT).isBlank()) {
            problems.add(OUT.flag() + ": give an output directory");
        }
        if (get(REPLACE_HEAD) > 0 && get(INIT_FROM) == null) {
            problems.add(REPLACE_HEAD.flag() + " needs " + INIT_FROM.flag() + ": a new head replaces the one of loaded weights");
        }
        if (get(UNFREEZE_SCHEDULE) != null && get(FREEZE).equals("none")) {
            problems.add(UNFREEZE_SCHEDULE.flag() + " needs " + FREEZE.flag() + ": it unfreezes layers frozen at the start");
        }
        if (get(RESUME) && get(RESUME_FROM) != null) {
            problems.add(RESUME.flag() + " and " + RESUME_FROM.flag() + ": give one of them");
        }
        try {
            exchangeSettings();
        } catch (IllegalArgumentException e) {
            problems.add(e.getMessage());
        }
        if (!get(WIRE_COMPRESSION).equals("none") && !get(EXCHANGE).equals(ExchangeStrategies.ALLREDUCE)) {
            problems.add(ExchangeStrategies.compressionRefusal(get(EXCHANGE)));
        }
        return problems;
    }

    /** The zoo models that build NHWC activations ({@link #LAYOUT}). */
    public static List<String> nhwcArchitectures() {
        return ModelRegistry.all().stream().filter(a -> a.supportsLayout(ActivationLayout.NHWC)).map(Architecture::name).toList();
    }

    /** Whether {@link #LAYOUT} or {@link #CONV_KERNELS} is left to the job ({@link #withAutomaticLayout}, {@link #withAutomaticConvKernels}). */
    public boolean hasAutomaticChoices() {
        return get(LAYOUT).equals(AUTO) || get(CONV_KERNELS).equals(AUTO);
    }

    /**
     * These options with {@link #LAYOUT} decided where it is {@code auto}: NHWC activations for the zoo
     * models that build NHWC — on CPUs the fastest layout measured for resnet18 and resnet20 (with OneDNN's
     * convolutions, resnet20's step 1.4× shorter than in NCHW with DL4J's convolution layer;
     * docs/benchmarks) — and NCHW for everything else. GPUs keep NCHW, the layout the CUDA build has been
     * measured with; a resumed run keeps the layout its checkpoint's graph is in. {@link #CONV_KERNELS} is
     * decided next ({@link #withAutomaticConvKernels}).
     *
     * @param ownNetwork       the caller gives the network, which keeps the layout it was built with
     * @param cudaBuild        the CUDA backend is built in (the executors run the same build)
     * @param checkpointLayout layout of the checkpoint the run resumes from, or {@code null} when it starts afresh
     */
    public TrainOptions withAutomaticLayout(boolean ownNetwork, boolean cudaBuild, ActivationLayout checkpointLayout) {
        if (!get(LAYOUT).equals(AUTO)) {
            return this;
        }
        ActivationLayout layout = checkpointLayout != null ? checkpointLayout
                : !ownNetwork && !cudaBuild && canBuildNhwc() ? ActivationLayout.NHWC : ActivationLayout.NCHW;
        return with(LAYOUT, layout.cliName());
    }

    /**
     * These options with {@link #CONV_KERNELS} decided where it is {@code auto}: on CPUs, OneDNN's
     * convolutions called directly for the zoo models — faster than DL4J's layer in every network measured,
     * NHWC (resnet18, resnet20) and NCHW (lenet5, simplecnn, densenet_bc40, vgg11_bn at 32×32; docs/benchmarks)
     * — unless the network is NCHW and its conversions to NHWC would need more than
     * {@link #AUTO_NCHW_CONVERSION_LIMIT} of buffers (VGG-16 at 224×224 and batch 64: 2.3 GB); DL4J's layer
     * for the caller's own network and on the CUDA build.
     *
     * @param ownNetwork          the caller gives the network
     * @param cudaBuild           the CUDA backend is built in
     * @param nchwConversionBytes buffers the direct path would need for the network's NCHW convolutions
     *                            per training thread (0 for an NHWC network)
     * @throws IllegalStateException if {@link #LAYOUT} is still {@code auto}
     */
    public TrainOptions withAutomaticConvKernels(boolean ownNetwork, boolean cudaBuild, long nchwConversionBytes) {
        if (!get(CONV_KERNELS).equals(AUTO)) {
            return this;
        }
        boolean direct = !ownNetwork && !cudaBuild
                && (activationLayout() == ActivationLayout.NHWC || nchwConversionBytes <= AUTO_NCHW_CONVERSION_LIMIT);
        return with(CONV_KERNELS, direct ? "dnnl" : "dl4j");
    }

    private boolean canBuildNhwc() {
        try {
            return ModelRegistry.get(get(MODEL)).supportsLayout(ActivationLayout.NHWC) && nhwcNormalization();
        } catch (IllegalArgumentException e) {
            return false; // reported as a --model problem
        }
    }

    private boolean nhwcNormalization() {
        Normalization norm = modelNormalization();
        return norm == Normalization.BATCH || norm == Normalization.NONE;
    }

    /**
     * The activation layout of {@link #LAYOUT}.
     *
     * @throws IllegalStateException while it is {@code auto}: decide it first ({@link #withAutomaticLayout})
     */
    public ActivationLayout activationLayout() {
        if (get(LAYOUT).equals(AUTO)) {
            throw new IllegalStateException(LAYOUT.flag() + " auto is decided by the training job (withAutomaticLayout)");
        }
        return ActivationLayout.parse(get(LAYOUT));
    }

    private List<String> layoutProblems(boolean ownNetwork) {
        List<String> problems = new ArrayList<>();
        if (!get(LAYOUT).equals("nhwc")) {
            return problems;
        }
        if (ownNetwork) {
            problems.add(LAYOUT.flag() + " nhwc builds a zoo model in NHWC; your own network keeps the layout you built it "
                    + "with (set dataFormat(CNN2DFormat.NHWC) on its layers), so leave " + LAYOUT.flag() + " out");
            return problems;
        }
        Architecture architecture;
        try {
            architecture = ModelRegistry.get(get(MODEL));
        } catch (IllegalArgumentException e) {
            return problems; // reported as a --model problem
        }
        if (!architecture.supportsLayout(ActivationLayout.NHWC)) {
            problems.add(LAYOUT.flag() + " nhwc: " + architecture.name() + " is built in NCHW only; NHWC is implemented for "
                    + String.join(", ", nhwcArchitectures()) + " (use one of them, or " + LAYOUT.flag() + " nchw)");
        }
        if (!nhwcNormalization()) {
            problems.add(LAYOUT.flag() + " nhwc works with " + NORM.flag() + " batch, sync-batch or none, not " + get(NORM)
                    + "; change " + NORM.flag() + " or use " + LAYOUT.flag() + " nchw");
        }
        return problems;
    }

    private <T> List<String> check(OptionDef<T> option) {
        return option.problems(get(option));
    }

    /** @throws InvalidOptionsException listing every problem, when there is any */
    public TrainOptions validate() {
        return validate(Set.of());
    }

    /** @throws InvalidOptionsException listing every problem of the options used, when there is any */
    public TrainOptions validate(Set<OptionDef<?>> unused) {
        List<String> problems = problems(unused);
        if (!problems.isEmpty()) {
            throw new InvalidOptionsException(problems);
        }
        return this;
    }

    /**
     * The layers a zoo model is built with, from {@link #NORM}: {@code batch} and {@code sync-batch} build
     * BatchNorm (the replicas synchronize it for {@code sync-batch}); {@code group}/{@code group:G},
     * {@code layer} and {@code instance} build the per-example normalizations, which need no
     * synchronization; {@code none} builds none.
     */
    public Normalization modelNormalization() {
        String norm = get(NORM);
        if (norm.equals("sync-batch")) {
            return Normalization.BATCH;
        }
        return Normalization.parse(norm.startsWith("group:") ? "group" : norm);
    }

    /** GroupNorm's group count: G of {@code group:G}, otherwise the default. */
    public int normGroups() {
        String norm = get(NORM);
        return norm.startsWith("group:") ? Integer.parseInt(norm.substring("group:".length())) : ModelOptions.DEFAULT_NORM_GROUPS;
    }

    private static boolean isNormalization(String norm) {
        if (norm.startsWith("group:")) {
            try {
                return Integer.parseInt(norm.substring("group:".length())) >= 1;
            } catch (NumberFormatException e) {
                return false;
            }
        }
        return List.of("batch", "sync-batch", "group", "layer", "instance", "none").contains(norm);
    }

    /** The exchange strategies' settings from their options. */
    public ExchangeSettings exchangeSettings() {
        return new ExchangeSettings(get(AVERAGE_EVERY), get(AVERAGE_WARMUP_STEPS), get(THRESHOLD_INITIAL),
                get(THRESHOLD_MIN_SENT_FRACTION), get(THRESHOLD_MAX_SENT_FRACTION),
                Math.max(Float.BYTES, Math.round(get(BUCKET_SIZE) * 1024 * 1024)), get(OVERLAP).equals("on"));
    }

    /** The replicas' collective settings from their options (valid options give valid settings). */
    public CollectiveSettings collectiveSettings() {
        return new CollectiveSettings(WireCompression.valueOf(get(WIRE_COMPRESSION).toUpperCase(Locale.ROOT)),
                TransportMode.valueOf(get(TRANSPORT).toUpperCase(Locale.ROOT)), get(NETWORK_INTERFACE), get(MTU),
                IdleMode.valueOf(get(IDLE_STRATEGY).replace('-', '_').toUpperCase(Locale.ROOT)),
                AllReduceTopology.parse(get(ALLREDUCE_TOPOLOGY)), get(SHARED_MEMORY).equals("on"));
    }

    /** Option name to effective value, for every recorded option: what checkpoints and {@code summary.json} record. */
    public Map<String, String> asMap() {
        Map<String, String> map = new LinkedHashMap<>();
        for (OptionDef<?> option : CATALOG) {
            if (option.recorded()) {
                map.put(option.name(), option.format(get(option)));
            }
        }
        return map;
    }

    @Override
    public String toString() {
        return "TrainOptions" + values;
    }
}
