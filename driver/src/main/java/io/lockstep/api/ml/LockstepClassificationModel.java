package io.lockstep.api.ml;

import io.lockstep.driver.infer.Inference;
import io.lockstep.driver.train.ModelFile;
import io.lockstep.worker.data.ImageBatchDecoder;
import io.lockstep.worker.data.ImageTransform;
import io.lockstep.worker.data.LabeledRecord;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.ml.Model;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.StructType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

/**
 * The trained classifier of {@link LockstepClassifier}: a Spark ML {@code Transformer} that appends a
 * prediction column (class index, double) and a probability column (vector) to a DataFrame with the
 * same image column. Inference runs on the executors, one network per executor JVM (broadcast once),
 * images in batches of 256. Saved with {@code write().save(path)} as Spark ML metadata plus the
 * network in {@code path/lockstep/model.zip} (the {@code lockstep train} model format).
 */
public final class LockstepClassificationModel extends Model<LockstepClassificationModel> implements MLWritable {
    private static final int BATCH = 256;
    private static final String MODEL_FILE = "lockstep/model.zip";

    private final String uid;
    private final byte[] network;
    private final List<String> classNames;
    private final ImageTransform transform;
    private final Param<String> imageCol;
    private final Param<String> predictionCol;
    private final Param<String> probabilityCol;

    LockstepClassificationModel(String uid, ComputationGraph graph, List<String> classNames, ImageTransform transform) {
        this.uid = uid;
        this.network = bytes(graph);
        this.classNames = List.copyOf(classNames);
        this.transform = transform;
        imageCol = new Param<>(this, "imageCol", "image column: encoded bytes or Spark's image struct");
        predictionCol = new Param<>(this, "predictionCol", "output column: predicted class index");
        probabilityCol = new Param<>(this, "probabilityCol", "output column: class probabilities (vector)");
        setDefault(imageCol, "image");
        setDefault(predictionCol, "prediction");
        setDefault(probabilityCol, "probability");
    }

    private static byte[] bytes(ComputationGraph graph) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ModelSerializer.writeModel(graph, out, false);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serialize the network: " + e.getMessage(), e);
        }
        return out.toByteArray();
    }

    @Override
    public String uid() {
        return uid;
    }

    public Param<String> imageCol() { return imageCol; }
    public Param<String> predictionCol() { return predictionCol; }
    public Param<String> probabilityCol() { return probabilityCol; }

    public LockstepClassificationModel setImageCol(String value) { set(imageCol, value); return this; }
    public LockstepClassificationModel setPredictionCol(String value) { set(predictionCol, value); return this; }
    public LockstepClassificationModel setProbabilityCol(String value) { set(probabilityCol, value); return this; }

    /** The trained network (a fresh copy on each call). */
    public ComputationGraph graph() {
        try {
            return ModelSerializer.restoreComputationGraph(new java.io.ByteArrayInputStream(network), false);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public List<String> classNames() {
        return classNames;
    }

    /** How images become the network's input (size, channels, normalization). */
    public ImageTransform imageTransform() {
        return transform;
    }

    @Override
    public StructType transformSchema(StructType schema) {
        ImageColumn.of(schema, getOrDefault(imageCol), "imageCol", transform);
        return ImageColumn.withPredictions(schema, getOrDefault(predictionCol), getOrDefault(probabilityCol));
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        Dataset<Row> frame = dataset.toDF();
        StructType output = transformSchema(frame.schema());
        ImageColumn images = ImageColumn.of(frame.schema(), getOrDefault(imageCol), "imageCol", transform);
        ImageBatchDecoder decoder = images.decoder(classNames.size());
        int imageIndex = frame.schema().fieldIndex(getOrDefault(imageCol));
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(frame.sparkSession().sparkContext());
        // Left to Spark's cleaner: the returned DataFrame may be recomputed as long as it is referenced.
        Broadcast<byte[]> model = sc.broadcast(network);
        JavaRDD<Row> rows = frame.javaRDD().mapPartitions(partition -> {
            List<Row> out = new ArrayList<>();
            List<Row> pending = new ArrayList<>(BATCH);
            List<LabeledRecord> records = new ArrayList<>(BATCH);
            while (partition.hasNext()) {
                Row row = partition.next();
                pending.add(row);
                records.add(images.record(row, imageIndex, 0));
                if (records.size() == BATCH || !partition.hasNext()) {
                    List<Inference.Labelled> predicted = Inference.predictBatch(records, decoder, model);
                    for (int i = 0; i < pending.size(); i++) {
                        Row in = pending.get(i);
                        Object[] values = new Object[in.length() + 2];
                        for (int f = 0; f < in.length(); f++) {
                            values[f] = in.get(f);
                        }
                        float[] probabilities = predicted.get(i).prediction().probabilities();
                        double[] asDouble = new double[probabilities.length];
                        for (int c = 0; c < probabilities.length; c++) {
                            asDouble[c] = probabilities[c];
                        }
                        values[in.length()] = (double) predicted.get(i).prediction().predictedClass();
                        values[in.length() + 1] = Vectors.dense(asDouble);
                        out.add(RowFactory.create(values));
                    }
                    pending.clear();
                    records.clear();
                }
            }
            return out.iterator();
        });
        return frame.sparkSession().createDataFrame(rows, output);
    }

    @Override
    public LockstepClassificationModel copy(ParamMap extra) {
        LockstepClassificationModel copy = new LockstepClassificationModel(uid, graph(), classNames, transform);
        return copyValues(copy, extra).setParent(parent());
    }

    /** Takes back saved param values on load (setDefault is protected in Spark ML's Params). */
    private SparkMlMetadata.Setter savedParams() {
        return new SparkMlMetadata.Setter() {
            @Override
            public void set(Param<Object> param, Object value) {
                LockstepClassificationModel.this.set(param, value);
            }

            @Override
            public void setDefault(Param<Object> param, Object value) {
                LockstepClassificationModel.this.setDefault(param, value);
            }
        };
    }

    @Override
    public MLWriter write() {
        return new Writer(this);
    }

    public static MLReader<LockstepClassificationModel> read() {
        return new Reader();
    }

    public static LockstepClassificationModel load(String path) {
        return read().load(path);
    }

    private static final class Writer extends MLWriter {
        private final LockstepClassificationModel instance;

        Writer(LockstepClassificationModel instance) {
            this.instance = instance;
        }

        @Override
        public void saveImpl(String path) {
            try {
                SparkMlMetadata.save(instance, path, sparkSession());
                File local = Files.createTempFile("lockstep-model", ".zip").toFile();
                try {
                    ModelFile.write(instance.graph(), new ModelFile.Info("spark-ml", instance.classNames,
                            instance.transform.channels(), instance.transform.height(), instance.transform.width(),
                            "batch", 0, Double.NaN, instance.transform), local);
                    Path target = new Path(path, MODEL_FILE);
                    FileSystem fs = target.getFileSystem(sparkSession().sparkContext().hadoopConfiguration());
                    fs.copyFromLocalFile(false, true, new Path(local.toURI()), target);
                } finally {
                    Files.deleteIfExists(local.toPath());
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot save the model to " + path + ": " + e.getMessage(), e);
            }
        }
    }

    private static final class Reader extends MLReader<LockstepClassificationModel> {
        @Override
        public LockstepClassificationModel load(String path) {
            try {
                SparkMlMetadata metadata = SparkMlMetadata.load(path, sparkSession(), LockstepClassificationModel.class);
                File local = Files.createTempFile("lockstep-model", ".zip").toFile();
                try {
                    Path source = new Path(path, MODEL_FILE);
                    FileSystem fs = source.getFileSystem(sparkSession().sparkContext().hadoopConfiguration());
                    if (!fs.exists(source)) {
                        throw new IllegalArgumentException(path + " holds no " + MODEL_FILE
                                + "; it is not a saved LockstepClassificationModel");
                    }
                    fs.copyToLocalFile(false, source, new Path(local.toURI()), true);
                    ModelFile.Info info = ModelFile.readInfo(local);
                    LockstepClassificationModel model = new LockstepClassificationModel(metadata.uid(),
                            ModelFile.readGraph(local), info.classNames(), info.transform());
                    metadata.applyTo(model, model.savedParams());
                    return model;
                } finally {
                    Files.deleteIfExists(local.toPath());
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot load the model from " + path + ": " + e.getMessage(), e);
            }
        }
    }
}
