package io.lockstep.driver.data;

import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.ImageTransform;
import picocli.CommandLine.Option;

/**
 * How every command that reads a dataset reads it and turns its images into model inputs, defined
 * once: add to a picocli command with {@code @CommandLine.Mixin DataOptions dataOptions;} and call
 * {@link #toOptions()}. Inference ({@code evaluate}, {@code predict}) uses these alone; commands that
 * augment images ({@code train}, {@code inspect-data}) use {@link TrainingDataOptions}.
 */
public class DataOptions {

    @Option(names = "--num-classes", paramLabel = "N",
            description = "IDX datasets: number of classes; every label must be below it (default: 10).")
    Integer numClasses;

    @Option(names = "--image-size", paramLabel = "N|HxW",
            description = "Resize every image to this size (default: the dataset's own size; image folders of mixed sizes need it).")
    String imageSize;

    @Option(names = "--channels", paramLabel = "1|3",
            description = "Model input channels; images are converted (default: 1 for IDX, 3 for CIFAR, for image folders 3 if any image is in color).")
    Integer channels;

    @Option(names = "--normalize", defaultValue = "none", paramLabel = "none|auto|MEANS/STDS",
            description = "Per-channel normalization after scaling pixels to [0,1]: none, auto (mean/std of the training set, stored with the model) "
                    + "or explicit, e.g. 0.4914,0.4822,0.4465/0.2470,0.2435,0.2616.")
    String normalize;

    @Option(names = "--bad-records", defaultValue = "fail", paramLabel = "fail|skip",
            description = "Unreadable images or empty class folders: fail (stop, naming the file) or skip (leave out, count and list them).")
    String badRecords;

    @Option(names = "--val-fraction", defaultValue = "0.1", paramLabel = "FRACTION",
            description = "Image folders without train/ and val/ (or test/) sub-folders: share of each class held out for testing (chosen by file path hash).")
    double valFraction;

    @Option(names = "--verify-images", defaultValue = "header", paramLabel = "header|full",
            description = "How images are checked when read: header (size, format, complete file) or full (decode every image once; "
                    + "implied by --bad-records skip, so a damaged image is left out before planning and every batch stays full).")
    String verifyImages;

    @Option(names = "--read-threads", defaultValue = "8", paramLabel = "N",
            description = "Files read at once from the filesystem when listing image folders.")
    int readThreads;

    /** The validated options; throws {@link DatasetException} listing every problem. */
    public DatasetOptions toOptions() {
        Integer height = null;
        Integer width = null;
        if (imageSize != null && !imageSize.isBlank()) {
            int[] size = DatasetOptions.parseImageSize(imageSize);
            height = size[0];
            width = size[1];
        }
        BadRecordPolicy policy;
        try {
            policy = BadRecordPolicy.parse(badRecords);
        } catch (IllegalArgumentException e) {
            throw new DatasetException(e.getMessage(), e);
        }
        return augment(new DatasetOptions(numClasses, height, width, channels, normalize, 0, false, false,
                ImageTransform.DEFAULT_RESIZED_CROP_MIN_SCALE, policy, valFraction, verifyImages, readThreads)).validate();
    }

    /** The training augmentation to apply: none, for reading alone. */
    DatasetOptions augment(DatasetOptions unaugmented) {
        return unaugmented;
    }
}
