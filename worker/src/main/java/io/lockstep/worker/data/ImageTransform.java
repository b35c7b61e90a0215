package io.lockstep.worker.data;

import io.lockstep.models.InputShape;

import java.io.Serial;
import java.io.Serializable;

/**
 * What the decoder does to every image between the stored record and the model's input: convert
 * to {@code channels} (1 = luminance, 3 = RGB), resize to {@code height x width} (bilinear, with
 * box pre-filtering when shrinking by 2x or more), the training-only augmentations, then per-channel
 * normalization. Evaluation applies only the deterministic part (convert, resize, normalize); see
 * {@link #deterministic()}.
 *
 * <p>Training augmentations, in torchvision's order: {@code randomResizedCrop} (a random box of
 * {@code resizedCropMinScale..1} of the area and aspect ratio 3/4..4/3, resized to the output size;
 * replaces the plain resize), then a random crop after zero padding of {@code cropPadding} pixels on
 * every side (a random shift of up to that many pixels, zero fill), then a horizontal flip with
 * probability 1/2. Zero fill is in pixel space, before normalization (torchvision's convention).
 *
 * <p>Immutable, serializable (travels to the executors in the decoder), and a plain JSON object so it
 * can be stored with the model.
 */
public record ImageTransform(int channels, int height, int width, int cropPadding, boolean horizontalFlip,
                             boolean randomResizedCrop, double resizedCropMinScale, Normalizer normalizer)
        implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    /** torchvision's RandomResizedCrop default lower bound of the area fraction. */
    public static final double DEFAULT_RESIZED_CROP_MIN_SCALE = 0.08;

    public ImageTransform {
        if (channels != 1 && channels != 3) {
            throw new IllegalArgumentException("--channels: the model input must have 1 (grayscale) or 3 (RGB) channels, got " + channels);
        }
        if (height <= 0 || width <= 0) {
            throw new IllegalArgumentException("--image-size: must be positive, got " + height + "x" + width);
        }
        if (cropPadding < 0 || cropPadding >= Math.max(height, width)) {
            throw new IllegalArgumentException("--crop-padding: must be between 0 and the image size - 1 (" + (Math.max(height, width) - 1)
                    + "), got " + cropPadding);
        }
        if (!(resizedCropMinScale > 0 && resizedCropMinScale <= 1)) {
            throw new IllegalArgumentException("--resized-crop-min-scale: must be in (0, 1], got " + resizedCropMinScale);
        }
        if (normalizer == null) {
            normalizer = Normalizer.identity(channels);
        }
        if (normalizer.channels() != channels) {
            throw new IllegalArgumentException("--normalize: gives " + normalizer.channels() + " channel(s) of statistics but the model input has "
                    + channels + " channel(s)");
        }
    }

    /** Convert and resize only, pixels scaled to [0, 1]. */
    public static ImageTransform plain(InputShape shape) {
        return new ImageTransform(shape.channels(), shape.height(), shape.width(), 0, false, false,
                DEFAULT_RESIZED_CROP_MIN_SCALE, null);
    }

    public InputShape shape() {
        return new InputShape(channels, height, width);
    }

    /** Same output, no augmentation: what evaluation applies. */
    public ImageTransform deterministic() {
        return new ImageTransform(channels, height, width, 0, false, false, resizedCropMinScale, normalizer);
    }

    public boolean augments() {
        return cropPadding > 0 || horizontalFlip || randomResizedCrop;
    }

    public ImageTransform withNormalizer(Normalizer newNormalizer) {
        return new ImageTransform(channels, height, width, cropPadding, horizontalFlip, randomResizedCrop, resizedCropMinScale, newNormalizer);
    }

    public ImageTransform withAugmentation(int newCropPadding, boolean newHorizontalFlip, boolean newRandomResizedCrop,
                                           double newResizedCropMinScale) {
        return new ImageTransform(channels, height, width, newCropPadding, newHorizontalFlip, newRandomResizedCrop,
                newResizedCropMinScale, normalizer);
    }

    /** One line for logs and summaries. */
    public String describe() {
        StringBuilder s = new StringBuilder().append(channels).append('x').append(height).append('x').append(width);
        if (randomResizedCrop) {
            s.append(", random resized crop (scale ").append(resizedCropMinScale).append("..1)");
        }
        if (cropPadding > 0) {
            s.append(", random crop with padding ").append(cropPadding);
        }
        if (horizontalFlip) {
            s.append(", random horizontal flip");
        }
        s.append(normalizer.leavesPixelsUnchanged() ? ", pixels in [0,1]" : ", normalized " + normalizer.format());
        return s.toString();
    }
}
