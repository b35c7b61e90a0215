package io.lockstep.driver.data;

import io.lockstep.driver.train.TrainingData;
import io.lockstep.models.InputShape;
import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.ImageBatchDecoder;
import io.lockstep.worker.data.ImageTransform;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.RecordFormat;
import io.lockstep.worker.data.SkippedRecord;

import java.util.List;

/**
 * A dataset read once on the driver: the records of the train and test splits (label + raw pixels or
 * encoded bytes), the class names (index = label; for image folders the sorted folder names), and
 * the {@link ImageTransform} that turns a record into the model's input. Immutable: the record lists
 * are unmodifiable, and the records (whose payload arrays must not be modified) are shared, not copied.
 *
 * <p>The transform (output shape, augmentation, normalization) belongs with the trained model:
 * store {@link #transform()} with it and evaluate with {@link #withTransform} of the stored one, so
 * that evaluation uses the training set's normalization statistics.
 */
public final class LoadedDataset implements TrainingData<LabeledRecord> {
    private final String uri;
    private final String format;
    private final List<String> classNames;
    private final RecordFormat recordFormat;
    private final ImageTransform transform;
    private final List<LabeledRecord> train;
    private final List<LabeledRecord> test;
    private final BadRecordPolicy policy;
    private final List<SkippedRecord> skipped;
    private final ImageSurvey survey;

    LoadedDataset(String uri, DatasetContent content, ImageTransform transform, BadRecordPolicy policy) {
        this(uri, content.format(), content.classNames(), content.recordFormat(), transform, content.train(), content.test(),
                policy, content.skipped(), content.survey());
    }

    private LoadedDataset(String uri, String format, List<String> classNames, RecordFormat recordFormat, ImageTransform transform,
                          List<LabeledRecord> train, List<LabeledRecord> test, BadRecordPolicy policy,
                          List<SkippedRecord> skipped, ImageSurvey survey) {
        this.uri = uri;
        this.format = format;
        this.classNames = List.copyOf(classNames);
        this.recordFormat = recordFormat;
        this.transform = transform;
        this.train = List.copyOf(train);
        this.test = List.copyOf(test);
        this.policy = policy;
        this.skipped = List.copyOf(skipped);
        this.survey = survey;
    }

    /** The dataset as the user named it. */
    public String uri() {
        return uri;
    }

    /** {@code idx}, {@code cifar-10}, {@code cifar-100} or {@code image-folder}. */
    public String format() {
        return format;
    }

    @Override
    public List<String> classNames() {
        return classNames;
    }

    public int numClasses() {
        return classNames.size();
    }

    /** The model's input shape: what {@link #decoder()} produces. */
    @Override
    public InputShape shape() {
        return transform.shape();
    }

    @Override
    public List<LabeledRecord> train() {
        return train;
    }

    @Override
    public List<LabeledRecord> test() {
        return test;
    }

    /** How the payload of every record is laid out. */
    public RecordFormat recordFormat() {
        return recordFormat;
    }

    /** Output shape, training augmentation and normalization; store it with the model. */
    public ImageTransform transform() {
        return transform;
    }

    public BadRecordPolicy badRecordPolicy() {
        return policy;
    }

    /** Records the driver left out while reading (under {@code --bad-records skip}), with reasons. */
    public List<SkippedRecord> skipped() {
        return skipped;
    }

    /** Sizes and channels seen in an image folder, or null for IDX and CIFAR. */
    public ImageSurvey survey() {
        return survey;
    }

    /** The executor-side decoder: serializable, augments training batches, holds no ND4J state. */
    @Override
    public ImageBatchDecoder decoder() {
        return new ImageBatchDecoder(recordFormat, transform, classNames.size(), policy);
    }

    /** The same records decoded with another transform, e.g. the one stored with a model (for evaluation). */
    public LoadedDataset withTransform(ImageTransform newTransform) {
        return new LoadedDataset(uri, format, classNames, recordFormat, newTransform, train, test, policy, skipped, survey);
    }

    /** Records per class of one split. */
    public int[] classCounts(boolean testSplit) {
        int[] counts = new int[classNames.size()];
        for (LabeledRecord r : testSplit ? test : train) {
            counts[r.label()]++;
        }
        return counts;
    }

    /** One line for the console: format, sizes, classes and transform. */
    public String describe() {
        return format + " dataset " + uri + ": " + train.size() + " training and " + test.size() + " test records, "
                + classNames.size() + " classes, " + recordFormat + " -> " + transform.describe()
                + (skipped.isEmpty() ? "" : ", " + skipped.size() + " bad records skipped");
    }

    @Override
    public String toString() {
        return describe();
    }
}
