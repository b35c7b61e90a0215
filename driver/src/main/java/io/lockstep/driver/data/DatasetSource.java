package io.lockstep.driver.data;

import io.lockstep.models.InputShape;
import io.lockstep.worker.data.AugmentRandom;
import io.lockstep.worker.data.BadRecordException;
import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.ChannelStatistics;
import io.lockstep.worker.data.ImageTransform;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.Normalizer;
import io.lockstep.worker.data.RecordDecoder;
import io.lockstep.worker.data.RecordFormat;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;

/**
 * Opens a dataset on the driver, through the Hadoop FileSystem API, and detects its format:
 * <ul>
 *   <li>IDX (MNIST, Fashion-MNIST): the four {@code train-}/{@code t10k-} files, optionally gzipped
 *       ({@link IdxDataset});</li>
 *   <li>CIFAR-10 / CIFAR-100 binary files ({@link CifarDataset});</li>
 *   <li>otherwise, a directory with sub-folders: an image folder ({@link ImageFolderDataset}).</li>
 * </ul>
 * then settles the model's input ({@link ImageTransform}) from the options and the images. The call
 * blocks until every record is in memory (image folders are read by a pool of
 * {@code --read-threads} threads, each file with a deadline); the result is immutable.
 */
public final class DatasetSource {
    private static final Logger LOG = LoggerFactory.getLogger(DatasetSource.class);

    private DatasetSource() {
    }

    /** Opens {@code uri} with the default options (native size and channels, no augmentation, fail on bad records). */
    public static LoadedDataset open(String uri, Configuration hadoopConf) {
        return open(uri, hadoopConf, DatasetOptions.defaults());
    }

    /**
     * Reads the dataset at {@code uri} (a directory on any Hadoop filesystem).
     *
     * @throws DatasetException if the path is missing, the format is not recognized, or a file is invalid;
     *                          the message names the file and the fix
     */
    public static LoadedDataset open(String uri, Configuration hadoopConf, DatasetOptions options) {
        return open(uri, hadoopConf, options, null);
    }

    /**
     * Like {@link #open(String, Configuration, DatasetOptions)}, but an image folder of mixed sizes
     * without {@code --image-size} is resized to {@code fallbackSize} instead of failing (for
     * {@code inspect-data}, which must show such a dataset rather than refuse it). Null: fail.
     */
    static LoadedDataset open(String uri, Configuration hadoopConf, DatasetOptions options, Integer fallbackSize) {
        options.validate();
        long start = System.nanoTime();
        DatasetFiles files = DatasetFiles.open(uri, hadoopConf);
        DatasetContent content = read(files, options);
        if (content.train().isEmpty()) {
            throw new DatasetException("--data: " + uri + " has no training records; the dataset is empty");
        }
        if (content.test().isEmpty()) {
            throw new DatasetException("--data: " + uri + " has no test records; a dataset needs a test split to report accuracy"
                    + (content.format().equals("image-folder") ? " (add val/ or raise --val-fraction)" : ""));
        }
        DatasetOptions effective = options;
        if (fallbackSize != null && options.imageHeight() == null && content.nativeShape() == null
                && content.survey() != null && content.survey().commonSize() == null) {
            effective = options.withImageSize(fallbackSize, fallbackSize);
        }
        ImageTransform transform = transformFor(content, effective, uri);
        LoadedDataset dataset = new LoadedDataset(uri, content, transform, options.badRecords());
        LOG.info("read {} in {} ms", dataset.describe(), (System.nanoTime() - start) / 1_000_000);
        return dataset;
    }

    static DatasetContent read(DatasetFiles files, DatasetOptions options) {
        if (TarShards.present(files)) {
            throw new DatasetException("--data: " + files.uri() + " holds tar shards, which only the executors read: train,"
                    + " evaluate, predict and inspect-data read them there whatever --read-on says");
        }
        if (IdxDataset.present(files)) {
            return IdxDataset.read(files, options.numClasses());
        }
        Path cifar = CifarDataset.locate(files);
        if (cifar != null) {
            return CifarDataset.read(files, cifar);
        }
        if (ImageFolderDataset.present(files)) {
            return ImageFolderDataset.read(files, options);
        }
        throw unknownFormat(files);
    }

    static DatasetException unknownFormat(DatasetFiles files) {
        return new DatasetException("--data: " + files.uri() + " is not a dataset Lockstep can read: expected the IDX files "
                + String.join(", ", IdxDataset.FILES) + " (each optionally .gz), the CIFAR binary files (data_batch_1.bin .. "
                + "data_batch_5.bin and test_batch.bin, or train.bin and test.bin), or class folders of images "
                + "(ROOT/<class>/*.jpg|*.jpeg|*.png, optionally under train/ and val/), Parquet files, or tar shards"
                + " (ROOT/*.tar holding key.jpg|key.png with key.cls, optionally under train/ and val/)");
    }

    /** Output shape from the options or the images, augmentation from the options, normalization as asked. */
    static ImageTransform transformFor(DatasetContent content, DatasetOptions options, String uri) {
        InputShape nativeShape = content.nativeShape();
        int channels;
        if (options.channels() != null) {
            channels = options.channels();
        } else if (nativeShape != null) {
            channels = nativeShape.channels();
        } else {
            channels = content.survey() != null && content.survey().anyColor() ? 3 : 1;
        }
        int height;
        int width;
        if (options.imageHeight() != null) {
            height = options.imageHeight();
            width = options.imageWidth();
        } else if (nativeShape != null) {
            height = nativeShape.height();
            width = nativeShape.width();
        } else {
            int[] common = content.survey() == null ? null : content.survey().commonSize();
            if (common == null) {
                throw new DatasetException("--image-size: the images of " + uri + " have different sizes ("
                        + content.survey().describeSizes(5) + "); pass --image-size N or HxW to resize them all");
            }
            width = common[0];
            height = common[1];
        }
        ImageTransform plain = new ImageTransform(channels, height, width, 0, false, false,
                ImageTransform.DEFAULT_RESIZED_CROP_MIN_SCALE, null);
        ImageTransform transform;
        try {
            transform = plain.withAugmentation(options.cropPadding(), options.horizontalFlip(), options.randomResizedCrop(),
                    options.resizedCropMinScale());
        } catch (IllegalArgumentException e) {
            throw new DatasetException(e.getMessage(), e);
        }
        Normalizer normalizer;
        if (options.autoNormalize()) {
            normalizer = computeNormalizer(content.recordFormat(), plain, content.train(), DatasetOptions.AUTO_NORMALIZE_MAX_IMAGES,
                    options.badRecords());
            LOG.info("--normalize auto: training set statistics {}", normalizer.format());
        } else {
            normalizer = options.explicitNormalizer();
        }
        try {
            return transform.withNormalizer(normalizer);
        } catch (IllegalArgumentException e) {
            throw new DatasetException(e.getMessage(), e);
        }
    }

    /**
     * Per-channel mean and std of the training images as the model sees them (converted and resized,
     * not augmented). Beyond {@code maxImages} a fixed-seed sample is used, so the result is
     * reproducible. A record that cannot be decoded fails the computation naming its file, or under
     * {@link BadRecordPolicy#SKIP} is left out of it.
     */
    public static Normalizer computeNormalizer(RecordFormat format, ImageTransform plain, List<LabeledRecord> train, int maxImages,
                                               BadRecordPolicy policy) {
        ImageTransform unnormalized = plain.deterministic().withNormalizer(null);
        ChannelStatistics statistics = new ChannelStatistics(unnormalized.channels());
        int plane = unnormalized.height() * unnormalized.width();
        int n = train.size();
        // Beyond maxImages: a fixed-seed sample with replacement, reproducible and uniform over the training set.
        AugmentRandom sample = n > maxImages ? new AugmentRandom(0, 0, 0, 0) : null;
        int count = sample == null ? n : maxImages;
        try (RecordDecoder decoder = new RecordDecoder(format, unnormalized)) {
            float[] image = new float[decoder.outputSize()];
            for (int i = 0; i < count; i++) {
                LabeledRecord record = train.get(sample == null ? i : sample.nextInt(n));
                try {
                    decoder.decode(record, null, image, 0);
                } catch (BadRecordException e) {
                    if (policy == BadRecordPolicy.SKIP) {
                        continue;
                    }
                    throw new DatasetException("--normalize auto: " + e.getMessage(), e);
                }
                statistics.add(image, 0, plane);
            }
        }
        try {
            return statistics.toNormalizer();
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new DatasetException("--normalize auto: " + e.getMessage(), e);
        }
    }
}
