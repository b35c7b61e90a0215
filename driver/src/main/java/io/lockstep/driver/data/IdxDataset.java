package io.lockstep.driver.data;

import io.lockstep.models.InputShape;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.RecordFormat;
import org.apache.hadoop.fs.Path;

import java.util.ArrayList;
import java.util.List;

/**
 * MNIST-style IDX datasets: a directory with {@code train-images-idx3-ubyte},
 * {@code train-labels-idx1-ubyte}, {@code t10k-images-idx3-ubyte} and {@code t10k-labels-idx1-ubyte},
 * each optionally gzipped ({@code .gz}; the uncompressed file wins if both exist). Class names are
 * {@code "0"} to {@code "N-1"}: IDX files carry no names, and digits keep a model trained on one copy
 * of a dataset (say the shipped Fashion-MNIST subset) usable on another (the full set) and on the
 * same images exported as an image folder with digit-named class folders.
 */
final class IdxDataset {
    static final String TRAIN_IMAGES = "train-images-idx3-ubyte";
    static final String TRAIN_LABELS = "train-labels-idx1-ubyte";
    static final String TEST_IMAGES = "t10k-images-idx3-ubyte";
    static final String TEST_LABELS = "t10k-labels-idx1-ubyte";
    static final List<String> FILES = List.of(TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS);
    static final int DEFAULT_CLASSES = 10;

    private IdxDataset() {
    }

    /** Whether the directory holds any of the four IDX files (then it is meant to be IDX). */
    static boolean present(DatasetFiles files) {
        for (String name : FILES) {
            if (find(files, name) != null) {
                return true;
            }
        }
        return false;
    }

    static Path find(DatasetFiles files, String name) {
        Path plain = files.file(name);
        return plain != null ? plain : files.file(name + ".gz");
    }

    static DatasetContent read(DatasetFiles files, Integer numClassesOption) {
        int numClasses = numClassesOption == null ? DEFAULT_CLASSES : numClassesOption;
        List<String> missing = new ArrayList<>();
        for (String name : FILES) {
            if (find(files, name) == null) {
                missing.add(name + "[.gz]");
            }
        }
        if (!missing.isEmpty()) {
            throw new DatasetException("--data: " + files.uri() + " looks like an IDX dataset but lacks " + String.join(", ", missing)
                    + "; an IDX dataset directory holds all four of " + String.join(", ", FILES) + " (each optionally .gz)");
        }
        Split train = readSplit(files, find(files, TRAIN_IMAGES), find(files, TRAIN_LABELS), numClasses);
        Split test = readSplit(files, find(files, TEST_IMAGES), find(files, TEST_LABELS), numClasses);
        if (train.rows != test.rows || train.cols != test.cols) {
            throw new DatasetException(find(files, TEST_IMAGES) + " holds " + test.rows + "x" + test.cols + " images but "
                    + find(files, TRAIN_IMAGES) + " holds " + train.rows + "x" + train.cols + "; both splits must have the same image size");
        }
        List<String> classes = new ArrayList<>(numClasses);
        for (int c = 0; c < numClasses; c++) {
            classes.add(Integer.toString(c));
        }
        return new DatasetContent("idx", List.copyOf(classes), RecordFormat.raw(1, train.rows, train.cols), train.records,
                test.records, new InputShape(1, train.rows, train.cols), List.of(), null);
    }

    private record Split(int rows, int cols, List<LabeledRecord> records) {
    }

    private static Split readSplit(DatasetFiles files, Path imagesFile, Path labelsFile, int numClasses) {
        byte[] labels = IdxFiles.readLabels(files, labelsFile);
        IdxFiles.Images images = IdxFiles.readImages(files, imagesFile);
        if (images.count() != labels.length) {
            throw new DatasetException(imagesFile + " holds " + images.count() + " images but " + labelsFile + " holds "
                    + labels.length + " labels; each image needs exactly one label (are the files from the same dataset and split?)");
        }
        if (images.count() == 0) {
            throw new DatasetException(imagesFile + " holds no images; the dataset is empty");
        }
        List<LabeledRecord> records = new ArrayList<>(labels.length);
        for (int i = 0; i < labels.length; i++) {
            int label = labels[i] & 0xFF;
            if (label >= numClasses) {
                throw new DatasetException(labelsFile + ": label " + label + " of record " + i + " is outside 0.." + (numClasses - 1)
                        + " (IDX datasets have " + numClasses + " classes" + (numClasses == DEFAULT_CLASSES ? " by default" : "")
                        + "); pass --num-classes N if the dataset really has more classes, or fix the labels file");
            }
            records.add(new LabeledRecord(label, images.images().get(i)));
        }
        return new Split(images.rows(), images.cols(), List.copyOf(records));
    }
}
