package io.lockstep.driver.data;

import picocli.CommandLine.Option;

/**
 * {@link DataOptions} plus the training augmentation options, for the commands that augment images
 * ({@code train}, and {@code inspect-data}, which shows augmented samples). Inference commands leave
 * these out, so their help lists no option that would do nothing there.
 */
public final class TrainingDataOptions extends DataOptions {

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

    @Override
    DatasetOptions augment(DatasetOptions unaugmented) {
        return unaugmented.withAugmentation(cropPadding, horizontalFlip, randomResizedCrop, resizedCropMinScale);
    }
}
