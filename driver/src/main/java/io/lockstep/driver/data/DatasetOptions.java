package io.lockstep.driver.data;

import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.ImageTransform;
import io.lockstep.worker.data.Normalizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * How to read a dataset and turn its images into model inputs; every field mirrors an option of
 * {@link DataOptions}. {@link #validate()} checks them all at once. Null fields mean "the dataset's
 * native value": 28x28x1 for IDX, 32x32x3 for CIFAR, and for image folders the common size of the
 * images (an error if they differ) and 3 channels if any image is in color, else 1.
 *
 * @param numClasses          IDX only: labels must be below this; null = 10
 * @param imageHeight         output height in pixels, or null
 * @param imageWidth          output width in pixels, or null
 * @param channels            output channels (1 or 3), or null
 * @param normalize           {@code none} (pixels in [0,1]), {@code auto} (per-channel mean/std of the
 *                            training set) or {@code MEANS/STDS}
 * @param cropPadding         training augmentation: random crop after padding by this many pixels (0 = off)
 * @param horizontalFlip      training augmentation: random horizontal flip
 * @param randomResizedCrop   training augmentation: random resized crop (replaces the plain resize)
 * @param resizedCropMinScale smallest area fraction of the random resized crop
 * @param badRecords          what to do with unreadable records
 * @param valFraction         image folders without train/ and val/ (or test/) sub-folders: the share of
 *                            each class held out as the test split, chosen by a hash of the file path
 * @param verifyImages        {@code header} (read each image's header and check it ends properly) or
 *                            {@code full} (decode every image once when read; implied by skipping bad records)
 * @param readThreads         files read at once from the filesystem (image folders)
 */
public record DatasetOptions(Integer numClasses, Integer imageHeight, Integer imageWidth, Integer channels,
                             String normalize, int cropPadding, boolean horizontalFlip, boolean randomResizedCrop,
                             double resizedCropMinScale, BadRecordPolicy badRecords, double valFraction,
                             String verifyImages, int readThreads) {

    /** Images examined at most to compute {@code --normalize auto} statistics (a seeded sample beyond that). */
    public static final int AUTO_NORMALIZE_MAX_IMAGES = 20_000;

    /** Native size and channels, no augmentation, pixels in [0,1], fail on bad records. */
    public static DatasetOptions defaults() {
        return new DatasetOptions(null, null, null, null, "none", 0, false, false,
                ImageTransform.DEFAULT_RESIZED_CROP_MIN_SCALE, BadRecordPolicy.FAIL, 0.1, "header", 8);
    }

    public DatasetOptions withNumClasses(Integer value) {
        return new DatasetOptions(value, imageHeight, imageWidth, channels, normalize, cropPadding, horizontalFlip,
                randomResizedCrop, resizedCropMinScale, badRecords, valFraction, verifyImages, readThreads);
    }

    public DatasetOptions withImageSize(Integer height, Integer width) {
        return new DatasetOptions(numClasses, height, width, channels, normalize, cropPadding, horizontalFlip,
                randomResizedCrop, resizedCropMinScale, badRecords, valFraction, verifyImages, readThreads);
    }

    public DatasetOptions withChannels(Integer value) {
        return new DatasetOptions(numClasses, imageHeight, imageWidth, value, normalize, cropPadding, horizontalFlip,
                randomResizedCrop, resizedCropMinScale, badRecords, valFraction, verifyImages, readThreads);
    }

    public DatasetOptions withNormalize(String value) {
        return new DatasetOptions(numClasses, imageHeight, imageWidth, channels, value, cropPadding, horizontalFlip,
                randomResizedCrop, resizedCropMinScale, badRecords, valFraction, verifyImages, readThreads);
    }

    public DatasetOptions withAugmentation(int padding, boolean flip, boolean resizedCrop, double minScale) {
        return new DatasetOptions(numClasses, imageHeight, imageWidth, channels, normalize, padding, flip,
                resizedCrop, minScale, badRecords, valFraction, verifyImages, readThreads);
    }

    public DatasetOptions withBadRecords(BadRecordPolicy value) {
        return new DatasetOptions(numClasses, imageHeight, imageWidth, channels, normalize, cropPadding, horizontalFlip,
                randomResizedCrop, resizedCropMinScale, value, valFraction, verifyImages, readThreads);
    }

    public DatasetOptions withValFraction(double value) {
        return new DatasetOptions(numClasses, imageHeight, imageWidth, channels, normalize, cropPadding, horizontalFlip,
                randomResizedCrop, resizedCropMinScale, badRecords, value, verifyImages, readThreads);
    }

    public DatasetOptions withVerifyImages(String value) {
        return new DatasetOptions(numClasses, imageHeight, imageWidth, channels, normalize, cropPadding, horizontalFlip,
                randomResizedCrop, resizedCropMinScale, badRecords, valFraction, value, readThreads);
    }

    /** Every problem at once, each naming its option; returns this when all is well. */
    public DatasetOptions validate() {
        List<String> errors = new ArrayList<>();
        if (numClasses != null && (numClasses < 2 || numClasses > 256)) {
            errors.add("--num-classes: must be between 2 and 256 (IDX labels are bytes), got " + numClasses);
        }
        if ((imageHeight == null) != (imageWidth == null)
                || imageHeight != null && (imageHeight < 1 || imageWidth < 1 || imageHeight > 4096 || imageWidth > 4096)) {
            errors.add("--image-size: must be N or HxW with sides between 1 and 4096, got " + imageHeight + "x" + imageWidth);
        }
        if (channels != null && channels != 1 && channels != 3) {
            errors.add("--channels: must be 1 (grayscale) or 3 (RGB), got " + channels);
        }
        String mode = normalize == null ? "" : normalize.trim().toLowerCase(Locale.ROOT);
        if (!mode.equals("none") && !mode.equals("auto")) {
            try {
                Normalizer.parse(normalize == null ? "" : normalize);
            } catch (IllegalArgumentException e) {
                errors.add(e.getMessage());
            }
        }
        if (cropPadding < 0) {
            errors.add("--crop-padding: must be >= 0, got " + cropPadding);
        }
        if (!(resizedCropMinScale > 0 && resizedCropMinScale <= 1)) {
            errors.add("--resized-crop-min-scale: must be in (0, 1], got " + resizedCropMinScale);
        }
        if (badRecords == null) {
            errors.add("--bad-records: use fail or skip");
        }
        if (!(valFraction > 0 && valFraction < 1)) {
            errors.add("--val-fraction: must be strictly between 0 and 1, got " + valFraction);
        }
        if (!"header".equals(verifyImages) && !"full".equals(verifyImages)) {
            errors.add("--verify-images: use header or full, got '" + verifyImages + "'");
        }
        if (readThreads < 1 || readThreads > 256) {
            errors.add("--read-threads: must be between 1 and 256, got " + readThreads);
        }
        if (!errors.isEmpty()) {
            throw new DatasetException(String.join("\n", errors));
        }
        return this;
    }

    /**
     * Whether every image is decoded once when the dataset is read: asked for ({@code full}), or implied by
     * {@code --bad-records skip}. A damaged image whose header and end look right fails only when decoded;
     * found at read time it is numbered out before any plan is made, where found during training it would
     * leave its replica's batch one short (and N replicas x B no longer the same step as one x N*B).
     */
    public boolean decodeWhenRead() {
        return "full".equals(verifyImages) || badRecords == BadRecordPolicy.SKIP;
    }

    /** {@code normalize} is {@code auto}. */
    public boolean autoNormalize() {
        return normalize != null && normalize.trim().equalsIgnoreCase("auto");
    }

    /** The explicit normalizer, or null for {@code none} and {@code auto}. */
    public Normalizer explicitNormalizer() {
        String mode = normalize == null ? "none" : normalize.trim().toLowerCase(Locale.ROOT);
        return mode.equals("none") || mode.equals("auto") ? null : Normalizer.parse(normalize);
    }

    /** Parses {@code --image-size}: {@code N} (square) or {@code HxW}; returns {height, width}. */
    public static int[] parseImageSize(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        try {
            int x = t.indexOf('x');
            if (x < 0) {
                int n = Integer.parseInt(t);
                return new int[]{n, n};
            }
            return new int[]{Integer.parseInt(t.substring(0, x)), Integer.parseInt(t.substring(x + 1))};
        } catch (NumberFormatException e) {
            throw new DatasetException("--image-size: '" + text + "' is not N or HxW (for example 32 or 224x224)", e);
        }
    }
}
