package io.lockstep.api;

import io.lockstep.driver.infer.Inference;
import io.lockstep.driver.train.DataSetInput;
import io.lockstep.driver.train.ModelFile;
import io.lockstep.driver.train.Networks;
import io.lockstep.worker.data.ExampleDecoder;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.dataset.DataSet;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;

/**
 * A trained network applied at scale: predictions and evaluation run on the executors, with one copy
 * of the network per executor JVM (sent once, as a broadcast) and examples in batches; only results
 * come back to the driver.
 *
 * <pre>{@code
 * try (LockstepModel model = LockstepModel.of(sc, result.graph())) {   // or LockstepModel.load(sc, "hdfs://…/model.zip")
 *     JavaRDD<Prediction> predictions = model.predict(rdd);
 *     double accuracy = model.evaluate(labelledRdd).accuracy();
 * }
 * }</pre>
 * {@link #close()} releases the broadcast; the context is never stopped.
 */
public final class LockstepModel implements AutoCloseable {
    /** Examples per inference batch unless {@link #batchSize(int)} says otherwise. */
    public static final int DEFAULT_BATCH_SIZE = 256;

    private final Broadcast<byte[]> model;
    private final int classes;
    private final int batchSize;

    private LockstepModel(Broadcast<byte[]> model, int classes, int batchSize) {
        this.model = model;
        this.classes = classes;
        this.batchSize = batchSize;
    }

    /** The network (a {@code ComputationGraph} or {@code MultiLayerNetwork}) as it is now. */
    public static LockstepModel of(JavaSparkContext sc, Object network) {
        ComputationGraph graph = Networks.asGraph(network instanceof MultiLayerNetwork mln ? mln.clone() : network);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try {
            ModelSerializer.writeModel(graph, bytes, false);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serialize the network: " + e.getMessage(), e);
        }
        return new LockstepModel(sc.broadcast(bytes.toByteArray()), Networks.outputSize(graph), DEFAULT_BATCH_SIZE);
    }

    /**
     * The network in a model file ({@code model.zip} of {@code lockstep train}, or any DL4J
     * {@code ComputationGraph} file) on any Hadoop filesystem.
     *
     * @throws IllegalArgumentException naming the file when it is missing or not such a model file
     */
    public static LockstepModel load(JavaSparkContext sc, String uri) {
        try {
            Path path = new Path(uri);
            FileSystem fs = path.getFileSystem(sc.hadoopConfiguration());
            if (!fs.exists(path)) {
                throw new IllegalArgumentException("model file " + uri + " does not exist");
            }
            File local = Files.createTempFile("lockstep-model", ".zip").toFile();
            try {
                fs.copyToLocalFile(false, path, new Path(local.toURI()), true);
                ComputationGraph graph;
                try {
                    graph = ModelFile.readGraph(local);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("model file " + uri + " is not a DL4J ComputationGraph model file"
                            + " (" + e.getCause().getMessage() + "); give the model.zip written by `lockstep train`", e);
                }
                return of(sc, graph);
            } finally {
                Files.deleteIfExists(local.toPath());
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read model file " + uri + ": " + e.getMessage(), e);
        }
    }

    /** The same model with another inference batch size. */
    public LockstepModel batchSize(int examples) {
        if (examples <= 0) {
            throw new IllegalArgumentException("batchSize: must be positive, got " + examples);
        }
        return new LockstepModel(model, classes, examples);
    }

    /** One prediction per example of {@code data}, in the same order (labels, if any, are ignored). */
    public JavaRDD<Prediction> predict(JavaRDD<DataSet> data) {
        return Inference.predict(data.flatMap(DataSetInput::examples), new ExampleDecoder(), model, batchSize);
    }

    /** Accuracy and confusion matrix over the labelled examples of {@code data}. */
    public Evaluation evaluate(JavaRDD<DataSet> data) {
        return new Evaluation(Inference.confusion(data.flatMap(DataSetInput::examples), new ExampleDecoder(), model,
                batchSize, classes));
    }

    /** Releases the broadcast network on the executors. */
    @Override
    public void close() {
        model.destroy();
    }
}
