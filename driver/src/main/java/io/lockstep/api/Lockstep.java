package io.lockstep.api;

import io.lockstep.api.ml.RecordsInput;
import io.lockstep.driver.data.DatasetOptions;
import io.lockstep.driver.data.DatasetSource;
import io.lockstep.driver.data.DistributedDataset;
import io.lockstep.driver.train.DataSetInput;
import io.lockstep.driver.train.ListedInput;
import io.lockstep.driver.train.Networks;
import io.lockstep.driver.train.TrainingInput;
import io.lockstep.driver.train.TrainingJob;
import io.lockstep.worker.data.ImageTransform;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.dataset.DataSet;
import scala.Tuple2;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The Java API: train a network with N synchronous replicas inside your own Spark application.
 *
 * <pre>{@code
 * TrainResult result = Lockstep.on(sparkContext)     // a JavaSparkContext, SparkContext or SparkSession
 *         .model(myComputationGraph)          // or a MultiLayerNetwork, or a zoo name such as "resnet20"
 *         .options(TrainOptions.defaults().with(TrainOptions.REPLICAS, 2).with(TrainOptions.EPOCHS, 3))
 *         .fit(trainingRdd);                  // JavaRDD<DataSet>, a DataFrame of images, or a dataset URI
 * ComputationGraph trained = result.graph();
 * }</pre>
 *
 * <p>What it does with what you give it:
 * <ul>
 *   <li><b>The SparkContext</b> is used as it is and never stopped. Spark listeners and cached RDDs the
 *       job adds are removed when {@code fit} returns. Dynamic allocation must be off (barrier stages
 *       refuse it) and the cluster must offer {@code replicas} task slots at once; both are checked
 *       before any stage starts.</li>
 *   <li><b>Options</b> come from {@code spark.lockstep.*} properties of the context's {@code SparkConf},
 *       overridden by {@link #options}. {@code master} is ignored (the context decides).</li>
 *   <li><b>Your network</b> is copied, never modified: a {@code MultiLayerNetwork} is converted to a
 *       {@code ComputationGraph} internally ({@code toComputationGraph()}) and the result holds a trained
 *       copy in both forms. BatchNorm layers are synchronized across replicas during training
 *       ({@code norm = sync-batch}, the default with several replicas) and saved as plain BatchNorm.
 *       Its updaters' learning rates are kept unless you set {@link TrainOptions#LR}, which applies
 *       Lockstep's schedule ({@code lr-scaling}, {@code warmup-epochs}, {@code lr-decay}) to every layer;
 *       {@code optimizer} and {@code weight-decay} apply to zoo models only. Its DL4J listeners run
 *       on rank 0's replica, on an executor, so they must be {@code Serializable}.</li>
 *   <li><b>Data</b>: a {@code JavaRDD<DataSet>} stays distributed (split into examples on the
 *       executors, never collected), so does a DataFrame of images ({@link ImageColumns}: encoded bytes
 *       or Spark's {@code image} struct, and a class-index column); a URI is a dataset directory as for
 *       {@code lockstep train}.</li>
 * </ul>
 * Instances are immutable; each method returns a new one. Call {@code fit} from one thread at a time
 * per context.
 */
public final class Lockstep {
    private final JavaSparkContext sc;
    private final Object network;
    private final String zooName;
    private final TrainOptions options;
    private final List<ProgressListener> listeners;

    private Lockstep(JavaSparkContext sc, Object network, String zooName, TrainOptions options, List<ProgressListener> listeners) {
        this.sc = sc;
        this.network = network;
        this.zooName = zooName;
        this.options = options;
        this.listeners = List.copyOf(listeners);
    }

    public static Lockstep on(JavaSparkContext sc) {
        Objects.requireNonNull(sc, "sc");
        return new Lockstep(sc, null, null, TrainOptions.defaults(), List.of());
    }

    public static Lockstep on(SparkContext sc) {
        return on(JavaSparkContext.fromSparkContext(sc));
    }

    /** Trains on the SparkSession's context (never stopped). */
    public static Lockstep on(SparkSession spark) {
        return on(spark.sparkContext());
    }

    /** Trains this network (copied; the original is left as it is). */
    public Lockstep model(ComputationGraph graph) {
        return new Lockstep(sc, Objects.requireNonNull(graph, "graph"), null, options, listeners);
    }

    /** Trains this network (converted to a ComputationGraph internally; the result holds both forms). */
    public Lockstep model(MultiLayerNetwork network) {
        return new Lockstep(sc, Objects.requireNonNull(network, "network"), null, options, listeners);
    }

    /** Trains the zoo model of this name (see {@code lockstep models}), built for the data's shape and classes. */
    public Lockstep model(String zooModel) {
        return new Lockstep(sc, null, Objects.requireNonNull(zooModel, "zooModel"), options, listeners);
    }

    /** The job's options; these override {@code spark.lockstep.*} properties of the context. */
    public Lockstep options(TrainOptions trainOptions) {
        return new Lockstep(sc, network, zooName, Objects.requireNonNull(trainOptions, "trainOptions"), listeners);
    }

    /** Adds a progress listener (called on the driver). */
    public Lockstep listener(ProgressListener listener) {
        List<ProgressListener> more = new ArrayList<>(listeners);
        more.add(Objects.requireNonNull(listener, "listener"));
        return new Lockstep(sc, network, zooName, options, more);
    }

    /** Trains on the examples of {@code train}, with no test data. */
    public TrainResult fit(JavaRDD<DataSet> train) {
        return fit(train, null);
    }

    /**
     * Trains on {@code train} and evaluates on {@code test} after every epoch.
     *
     * @throws InvalidOptionsException  when the options are invalid (every problem at once)
     * @throws IllegalArgumentException when the data or network cannot be trained, before any stage starts
     */
    public TrainResult fit(JavaRDD<DataSet> train, JavaRDD<DataSet> test) {
        TrainOptions effective = effectiveOptions(Set.of(TrainOptions.DATA, TrainOptions.READ_ON, TrainOptions.IMAGE_COLUMN,
                TrainOptions.LABEL_COLUMN));
        DataSetInput input = new DataSetInput(train, test);
        try {
            return run(effective, input);
        } finally {
            input.release();
        }
    }

    /** Trains on the images of a DataFrame, with no test data. */
    public TrainResult fit(Dataset<Row> train, ImageColumns columns) {
        return fit(train, null, columns);
    }

    /**
     * Trains on the images of the DataFrame {@code train} and evaluates on {@code test} (same columns)
     * after every epoch. The rows stay on the executors (cached serialized, never collected); the
     * classes are the label column's StringIndexer labels, else 0..max.
     *
     * @throws IllegalArgumentException when a column is missing or of the wrong type, before any stage starts
     */
    public TrainResult fit(Dataset<Row> train, Dataset<Row> test, ImageColumns columns) {
        TrainOptions effective = effectiveOptions(Set.of(TrainOptions.DATA));
        RecordsInput input = RecordsInput.fromFrames(train, test, columns.imageCol(), columns.labelCol(),
                ImageTransform.plain(columns.shape()));
        try {
            return run(effective, input);
        } finally {
            input.release();
        }
    }

    /** Trains on the dataset directory at {@code uri} (any Hadoop filesystem), as {@code lockstep train --data}. */
    public TrainResult fit(String uri) {
        return fit(uri, DatasetOptions.defaults());
    }

    /** Like {@link #fit(String)}, reading the dataset with these options (image size, augmentation, …). */
    public TrainResult fit(String uri, DatasetOptions datasetOptions) {
        TrainOptions effective = effectiveOptions(Set.of(TrainOptions.DATA)).with(TrainOptions.DATA, uri)
                .validate(unused(Set.of()));
        if (effective.get(TrainOptions.READ_ON).equals("executors") || DistributedDataset.readOnExecutorsOnly(uri, sc.hadoopConfiguration())) {
            DistributedDataset input = DistributedDataset.open(sc, uri, datasetOptions, effective.get(TrainOptions.IMAGE_COLUMN),
                    effective.get(TrainOptions.LABEL_COLUMN));
            try {
                return run(effective, input);
            } finally {
                input.release();
            }
        }
        return run(effective, new ListedInput<>(DatasetSource.open(uri, sc.hadoopConfiguration(), datasetOptions)));
    }

    private TrainOptions effectiveOptions(Set<OptionDef<?>> unused) {
        Map<String, String> spark = new java.util.HashMap<>();
        for (Tuple2<String, String> entry : sc.getConf().getAllWithPrefix("spark.lockstep.")) {
            spark.put(entry._1(), entry._2());
        }
        TrainOptions merged = TrainOptions.fromProperties(spark, "").overriddenBy(options);
        if (zooName != null) {
            merged = merged.with(TrainOptions.MODEL, zooName);
        }
        if (network == null && zooName == null && !merged.isSet(TrainOptions.MODEL)) {
            throw new IllegalArgumentException("model: give a network (ComputationGraph or MultiLayerNetwork) or a zoo name"
                    + " with .model(...) before fit");
        }
        return merged.validate(unused(unused));
    }

    private Set<OptionDef<?>> unused(Set<OptionDef<?>> alsoUnused) {
        Set<OptionDef<?>> unused = new java.util.HashSet<>(alsoUnused);
        unused.add(TrainOptions.MASTER);
        if (network != null) {
            unused.add(TrainOptions.MODEL);
        }
        return unused;
    }

    private <R extends Serializable> TrainResult run(TrainOptions effective, TrainingInput<R> input) {
        ComputationGraph graph = network == null ? null : Networks.asGraph(network);
        if (network != null) {
            effective = effective.with(TrainOptions.MODEL, io.lockstep.driver.train.Networks.CUSTOM);
        }
        TrainResult result = new TrainingJob(effective, graph, listeners).train(sc, input);
        if (network instanceof MultiLayerNetwork mln) {
            result = new TrainResult(result.graph(), Networks.copyInto(mln, result.graph()), result.history(),
                    result.outputDir(), result.modelFile(), result.checkpointDir(), result.wallSeconds(), result.imagesPerSecond());
        }
        for (ProgressListener listener : listeners) {
            listener.trainingFinished(result);
        }
        return result;
    }
}
