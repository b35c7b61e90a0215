package io.lockstep.driver.data;

import io.lockstep.models.InputShape;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.RecordFormat;
import org.apache.hadoop.fs.Path;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The binary versions of CIFAR-10 and CIFAR-100 (https://www.cs.toronto.edu/~kriz/cifar.html), in
 * the dataset directory itself or in the {@code cifar-10-batches-bin/} / {@code cifar-100-binary/}
 * folder that the archives unpack to.
 * <ul>
 *   <li>CIFAR-10: {@code data_batch_1.bin} .. {@code data_batch_5.bin} and {@code test_batch.bin};
 *       records of 1 label byte + 3072 pixel bytes (32x32, red plane, green plane, blue plane);
 *       class names from {@code batches.meta.txt}, else the standard ten.</li>
 *   <li>CIFAR-100: {@code train.bin} and {@code test.bin}; records of a coarse and a fine label byte
 *       + 3072 pixel bytes; Lockstep trains on the 100 fine labels, named from
 *       {@code fine_label_names.txt}, else the standard names.</li>
 * </ul>
 * The payload is kept as raw CHW bytes, exactly as stored.
 */
final class CifarDataset {
    static final int PIXELS = 3 * 32 * 32;
    static final List<String> CIFAR10_TRAIN = List.of("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
            "data_batch_4.bin", "data_batch_5.bin");
    static final String CIFAR10_TEST = "test_batch.bin";
    static final String CIFAR100_TRAIN = "train.bin";
    static final String CIFAR100_TEST = "test.bin";
    static final List<String> CIFAR10_CLASSES = List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
            "horse", "ship", "truck");
    static final List<String> CIFAR100_CLASSES = List.of("apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee",
            "beetle", "bicycle", "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar",
            "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
            "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp",
            "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse",
            "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain",
            "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal",
            "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower",
            "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor", "train", "trout", "tulip",
            "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm");

    private CifarDataset() {
    }

    /** Where the CIFAR files are ({@code root} or its archive folder), or null if this is not CIFAR. */
    static Path locate(DatasetFiles files) {
        for (String sub : new String[]{null, "cifar-10-batches-bin", "cifar-100-binary"}) {
            Path dir = sub == null ? files.root() : files.dirIn(files.root(), sub);
            if (dir != null && (files.fileIn(dir, CIFAR10_TRAIN.get(0)) != null || files.fileIn(dir, CIFAR10_TEST) != null
                    || files.fileIn(dir, CIFAR100_TRAIN) != null && files.fileIn(dir, CIFAR100_TEST) != null)) {
                return dir;
            }
        }
        return null;
    }

    static DatasetContent read(DatasetFiles files, Path dir) {
        boolean cifar100 = files.fileIn(dir, CIFAR10_TRAIN.get(0)) == null && files.fileIn(dir, CIFAR10_TEST) == null;
        List<String> trainNames = cifar100 ? List.of(CIFAR100_TRAIN) : CIFAR10_TRAIN;
        String testName = cifar100 ? CIFAR100_TEST : CIFAR10_TEST;
        List<String> missing = new ArrayList<>();
        for (String name : concat(trainNames, testName)) {
            if (files.fileIn(dir, name) == null) {
                missing.add(name);
            }
        }
        String kind = cifar100 ? "CIFAR-100" : "CIFAR-10";
        if (!missing.isEmpty()) {
            throw new DatasetException("--data: " + dir + " looks like " + kind + " but lacks " + String.join(", ", missing)
                    + "; the binary " + kind + " set has " + String.join(", ", concat(trainNames, testName)));
        }
        List<String> classes = cifar100
                ? names(files, dir, "fine_label_names.txt", CIFAR100_CLASSES)
                : names(files, dir, "batches.meta.txt", CIFAR10_CLASSES);
        int labelBytes = cifar100 ? 2 : 1;
        List<LabeledRecord> train = new ArrayList<>();
        for (String name : trainNames) {
            readFile(files, new Path(dir, name), kind, labelBytes, classes.size(), train);
        }
        List<LabeledRecord> test = new ArrayList<>();
        readFile(files, new Path(dir, testName), kind, labelBytes, classes.size(), test);
        return new DatasetContent(cifar100 ? "cifar-100" : "cifar-10", classes, RecordFormat.raw(3, 32, 32), train, test,
                new InputShape(3, 32, 32), List.of(), null);
    }

    private static List<String> concat(List<String> list, String last) {
        List<String> all = new ArrayList<>(list);
        all.add(last);
        return all;
    }

    /** Class names from the archive's names file if it is there, else the standard names. */
    static List<String> names(DatasetFiles files, Path dir, String fileName, List<String> standard) {
        Path file = files.fileIn(dir, fileName);
        if (file == null) {
            return standard;
        }
        List<String> names = new ArrayList<>();
        for (String line : new String(files.readAll(file), StandardCharsets.UTF_8).split("\\R")) {
            if (!line.isBlank()) {
                names.add(line.trim());
            }
        }
        if (names.size() != standard.size()) {
            throw new DatasetException(file + " lists " + names.size() + " class names, expected " + standard.size()
                    + " (one per line); fix or delete it to use the standard names");
        }
        return List.copyOf(names);
    }

    private static void readFile(DatasetFiles files, Path file, String kind, int labelBytes, int numClasses, List<LabeledRecord> out) {
        int recordSize = labelBytes + PIXELS;
        long length = files.length(file);
        if (length == 0 || length % recordSize != 0) {
            throw new DatasetException(file + " is " + length + " bytes, not a whole number of " + kind + " records of " + recordSize
                    + " bytes (" + labelBytes + " label byte" + (labelBytes > 1 ? "s" : "") + " + 3072 pixels); the file is "
                    + (length == 0 ? "empty" : "truncated") + " or not " + kind + " binary data: download the binary version again");
        }
        long records = length / recordSize;
        try (DataInputStream in = new DataInputStream(files.open(file))) {
            for (long i = 0; i < records; i++) {
                int label = 0;
                for (int b = 0; b < labelBytes; b++) {
                    label = in.readUnsignedByte(); // CIFAR-100: coarse first, then the fine label we keep
                }
                if (label >= numClasses) {
                    throw new DatasetException(file + ": record " + i + " has label " + label + ", outside 0.." + (numClasses - 1)
                            + " of " + kind + "; the file is damaged or not " + kind);
                }
                byte[] pixels = new byte[PIXELS];
                in.readFully(pixels);
                out.add(new LabeledRecord(label, pixels));
            }
        } catch (EOFException e) {
            throw new DatasetException(file + " ended early while reading (its size changed during the read?)", e);
        } catch (IOException e) {
            throw new DatasetException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
