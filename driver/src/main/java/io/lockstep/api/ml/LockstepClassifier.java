package io.lockstep.api.ml;

import io.lockstep.api.TrainOptions;
import io.lockstep.api.TrainResult;
import io.lockstep.driver.train.TrainingJob;
import io.lockstep.models.InputShape;
import io.lockstep.worker.data.ImageTransform;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.ml.Estimator;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * A Spark ML {@code Estimator} that trains an image classifier with Lockstep: N synchronous replicas
 * (one barrier task each) on the DataFrame's images, then returns a {@link LockstepClassificationModel}.
 * Usable in a {@code Pipeline} (typically after a {@code StringIndexer} on the label) and persistable with
 * {@code write().save(path)} / {@code LockstepClassifier.load(path)}.
 *
 * <p>Input: {@code imageCol} (default {@code image}) holds encoded image bytes or Spark's {@code image}
 * struct; {@code labelCol} (default {@code label}) a class index. The number of classes comes from the
 * label column's metadata (as a StringIndexer writes it), else from the largest index. Images are
 * decoded on the executors to {@code channels x imageHeight x imageWidth} (encoded images are resized).
 * The other params map to the training options of the same meaning ({@code lockstep train --help}).
 */
public final class LockstepClassifier extends Estimator<LockstepClassificationModel> implements DefaultParamsWritable {
    private final String uid;
    private final Param<String> imageCol;
    private final Param<String> labelCol;
    private final Param<String> predictionCol;
    private final Param<String> probabilityCol;
    private final Param<String> model;
    private final IntParam epochs;
    private final IntParam batchSize;
    private final IntParam replicas;
    private final Param<String> exchange;
    private final DoubleParam learningRate;
    private final LongParam seed;
    private final IntParam imageHeight;
    private final IntParam imageWidth;
    private final IntParam channels;
    private final Param<String> outputDir;
    private final Param<String> layout;
    private final Param<String> convKernels;

    public LockstepClassifier() {
        this(Identifiable$.MODULE$.randomUID("lockstepClassifier"));
    }

    public LockstepClassifier(String uid) {
        this.uid = uid;
        imageCol = new Param<>(this, "imageCol", "image column: encoded bytes or Spark's image struct");
        labelCol = new Param<>(this, "labelCol", "label column: class index (e.g. a StringIndexer's output)");
        predictionCol = new Param<>(this, "predictionCol", "output column: predicted class index");
        probabilityCol = new Param<>(this, "probabilityCol", "output column: class probabilities (vector)");
        model = new Param<>(this, "model", "zoo model name (see `lockstep models`)");
        epochs = new IntParam(this, "epochs", TrainOptions.EPOCHS.doc(), ParamValidators.gtEq(1));
        batchSize = new IntParam(this, "batchSize", TrainOptions.BATCH_SIZE.doc(), ParamValidators.gtEq(1));
        replicas = new IntParam(this, "replicas", TrainOptions.REPLICAS.doc(), ParamValidators.gtEq(1));
        exchange = new Param<>(this, "exchange", TrainOptions.EXCHANGE.doc());
        learningRate = new DoubleParam(this, "learningRate", TrainOptions.LR.doc(), ParamValidators.gt(0));
        seed = new LongParam(this, "seed", TrainOptions.SEED.doc());
        imageHeight = new IntParam(this, "imageHeight", "height the images are decoded to", ParamValidators.gtEq(1));
        imageWidth = new IntParam(this, "imageWidth", "width the images are decoded to", ParamValidators.gtEq(1));
        channels = new IntParam(this, "channels", "channels the images are decoded to (1 or 3)", ParamValidators.inArray(new int[]{1, 3}));
        outputDir = new Param<>(this, "outputDir", "directory (any Hadoop filesystem) for metrics, checkpoints and model.zip");
        layout = new Param<>(this, "layout", TrainOptions.LAYOUT.doc(), ParamValidators.inArray(choicesOf(TrainOptions.LAYOUT)));
        convKernels = new Param<>(this, "convKernels", TrainOptions.CONV_KERNELS.doc(),
                ParamValidators.inArray(choicesOf(TrainOptions.CONV_KERNELS)));
        setDefault(imageCol, "image");
        setDefault(labelCol, "label");
        setDefault(predictionCol, "prediction");
        setDefault(probabilityCol, "probability");
        setDefault(model, TrainOptions.MODEL.defaultValue());
        setDefault(epochs, (Object) TrainOptions.EPOCHS.defaultValue());
        setDefault(batchSize, (Object) TrainOptions.BATCH_SIZE.defaultValue());
        setDefault(replicas, (Object) TrainOptions.REPLICAS.defaultValue());
        setDefault(exchange, TrainOptions.EXCHANGE.defaultValue());
        setDefault(learningRate, (Object) TrainOptions.LR.defaultValue());
        setDefault(seed, (Object) TrainOptions.SEED.defaultValue());
        setDefault(imageHeight, (Object) 28);
        setDefault(imageWidth, (Object) 28);
        setDefault(channels, (Object) 1);
        setDefault(layout, TrainOptions.LAYOUT.defaultValue());
        setDefault(convKernels, TrainOptions.CONV_KERNELS.defaultValue());
        setDefault(outputDir, Path.of(System.getProperty("java.io.tmpdir"), "lockstep-" + uid).toString());
    }

    @Override
    public String uid() {
        return uid;
    }

    public Param<String> imageCol() { return imageCol; }
    public Param<String> labelCol() { return labelCol; }
    public Param<String> predictionCol() { return predictionCol; }
    public Param<String> probabilityCol() { return probabilityCol; }
    public Param<String> model() { return model; }
    public IntParam epochs() { return epochs; }
    public IntParam batchSize() { return batchSize; }
    public IntParam replicas() { return replicas; }
    public Param<String> exchange() { return exchange; }
    public DoubleParam learningRate() { return learningRate; }
    public LongParam seed() { return seed; }
    public IntParam imageHeight() { return imageHeight; }
    public IntParam imageWidth() { return imageWidth; }
    public IntParam channels() { return channels; }
    public Param<String> outputDir() { return outputDir; }
    public Param<String> layout() { return layout; }
    public Param<String> convKernels() { return convKernels; }

    public LockstepClassifier setImageCol(String value) { set(imageCol, value); return this; }
    public LockstepClassifier setLabelCol(String value) { set(labelCol, value); return this; }
    public LockstepClassifier setPredictionCol(String value) { set(predictionCol, value); return this; }
    public LockstepClassifier setProbabilityCol(String value) { set(probabilityCol, value); return this; }
    public LockstepClassifier setModel(String value) { set(model, value); return this; }
    public LockstepClassifier setEpochs(int value) { set(epochs, (Object) value); return this; }
    public LockstepClassifier setBatchSize(int value) { set(batchSize, (Object) value); return this; }
    public LockstepClassifier setReplicas(int value) { set(replicas, (Object) value); return this; }
    public LockstepClassifier setExchange(String value) { set(exchange, value); return this; }
    public LockstepClassifier setLearningRate(double value) { set(learningRate, (Object) value); return this; }
    public LockstepClassifier setSeed(long value) { set(seed, (Object) value); return this; }
    public LockstepClassifier setImageSize(int height, int width) { set(imageHeight, (Object) height); set(imageWidth, (Object) width); return this; }
    public LockstepClassifier setChannels(int value) { set(channels, (Object) value); return this; }
    public LockstepClassifier setOutputDir(String value) { set(outputDir, value); return this; }
    public LockstepClassifier setLayout(String value) { set(layout, value); return this; }
    public LockstepClassifier setConvKernels(String value) { set(convKernels, value); return this; }

    private <T> T value(Param<?> param) {
        @SuppressWarnings("unchecked")
        T value = (T) getOrDefault(param);
        return value;
    }

    ImageTransform transform() {
        return ImageTransform.plain(new InputShape(value(channels), value(imageHeight), value(imageWidth)));
    }

    @Override
    public StructType transformSchema(StructType schema) {
        ImageColumn.of(schema, value(imageCol), "imageCol", transform());
        ImageColumn.checkLabel(schema, value(labelCol));
        return ImageColumn.withPredictions(schema, value(predictionCol), value(probabilityCol));
    }

    @Override
    public LockstepClassificationModel fit(Dataset<?> dataset) {
        Dataset<Row> frame = dataset.toDF();
        transformSchema(frame.schema());
        TrainOptions options = TrainOptions.defaults()
                .with(TrainOptions.MODEL, value(model)).with(TrainOptions.EPOCHS, value(epochs))
                .with(TrainOptions.BATCH_SIZE, value(batchSize)).with(TrainOptions.REPLICAS, value(replicas))
                .with(TrainOptions.EXCHANGE, value(exchange)).with(TrainOptions.LR, value(learningRate))
                .with(TrainOptions.SEED, value(seed)).with(TrainOptions.OUT, value(outputDir))
                .with(TrainOptions.LAYOUT, value(layout))
                .with(TrainOptions.CONV_KERNELS, value(convKernels))
                .validate(Set.of(TrainOptions.DATA, TrainOptions.MASTER));
        RecordsInput input = RecordsInput.fromFrames(frame, null, value(imageCol), value(labelCol), transform());
        try {
            JavaSparkContext sc = JavaSparkContext.fromSparkContext(frame.sparkSession().sparkContext());
            TrainResult result = new TrainingJob(options, null, List.of()).train(sc, input);
            LockstepClassificationModel trained = new LockstepClassificationModel(uid, result.graph(), input.classNames(),
                    transform());
            return copyValues(trained, extractParamMap()).setParent(this);
        } finally {
            input.release();
        }
    }

    @Override
    public LockstepClassifier copy(ParamMap extra) {
        return (LockstepClassifier) defaultCopy(extra);
    }

    public static MLReader<LockstepClassifier> read() {
        return new DefaultParamsReader<>();
    }

    public static LockstepClassifier load(String path) {
        return read().load(path);
    }

    /** The values a choice option of {@code lockstep train} accepts, for the validator of the param that sets it. */
    private static String[] choicesOf(io.lockstep.api.OptionDef<String> option) {
        return option.choices().toArray(String[]::new);
    }
}
