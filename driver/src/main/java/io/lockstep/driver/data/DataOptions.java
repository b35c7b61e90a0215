package io.lockstep.driver.data;

import io.lockstep.worker.data.BadRecordPolicy;
import picocli.CommandLine.Option;

/**
 * The dataset options of every command that reads a dataset ({@code train}, {@code evaluate},
 * {@code inspect-data}), defined once: add to a picocli command with
 * {@code @CommandLine.Mixin DataOptions dataOptions;} and call {@link #toOptions()}.
 */
public final class DataOptions {

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

    @Option(names = "--crop-padding", defaultValue = "0", paramLabel = "PIXELS",
            description = "Training augmentation: random crop after zero padding by this many pixels per side (0: off; CIFAR recipes use 4).")
    int cropPadding;

    @Option(names = "--hflip", defaultValue = "false", description = "Training augmentation: random horizontal flip.")
    boolean horizontalFlip;

    @Option(names = "--random-resized-crop", defaultValue = "false",
            description = "Training augmentation: random resized crop (area 8%%..100%%, aspect 3/4..4/3) instead of a plain resize.")
    boolean randomResizedCrop;

    @Option(names = "--resized-crop-min-scale", defaultValue = "0.08", paramLabel = "FRACTION",
            description = "Smallest area fraction of --random-resized-crop.")
    double resizedCropMinScale;

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
        return new DatasetOptions(numClasses, height, width, channels, normalize, cropPadding, horizontalFlip,
                randomResizedCrop, resizedCropMinScale, policy, valFraction, verifyImages, readThreads).validate();
    }
}
