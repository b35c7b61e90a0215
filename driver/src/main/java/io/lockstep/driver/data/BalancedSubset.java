package io.lockstep.driver.data;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

/**
 * Writes a class-balanced subset of an IDX dataset as gzipped IDX files: for each class, the indices
 * of that class in file order are shuffled with {@code java.util.Random(seed)} (one generator for
 * all classes, classes in order 0..N-1; both algorithms are specified by the JDK, so the selection is
 * the same on every JVM), the first {@code perClass} are kept, and the kept images are written in
 * their original order. The chosen indices are written too ({@code train-indices.txt},
 * {@code test-indices.txt}), one per line. Produced the shipped {@code data/fashion-mnist-small}.
 */
public final class BalancedSubset {
    private BalancedSubset() {
    }

    /** Indices (ascending) of {@code perClass} examples of each class {@code 0..numClasses-1}. */
    public static int[] select(byte[] labels, int numClasses, int perClass, Random random) {
        List<List<Integer>> byClass = new ArrayList<>();
        for (int c = 0; c < numClasses; c++) {
            byClass.add(new ArrayList<>());
        }
        for (int i = 0; i < labels.length; i++) {
            int label = labels[i] & 0xFF;
            if (label >= numClasses) {
                throw new DatasetException("label " + label + " of record " + i + " is outside 0.." + (numClasses - 1));
            }
            byClass.get(label).add(i);
        }
        int[] chosen = new int[numClasses * perClass];
        int n = 0;
        for (int c = 0; c < numClasses; c++) {
            List<Integer> indices = byClass.get(c);
            if (indices.size() < perClass) {
                throw new DatasetException("class " + c + " has only " + indices.size() + " examples; cannot take " + perClass
                        + " per class (lower --train-per-class / --test-per-class)");
            }
            Collections.shuffle(indices, random);
            for (int k = 0; k < perClass; k++) {
                chosen[n++] = indices.get(k);
            }
        }
        Arrays.sort(chosen);
        return chosen;
    }

    /** Reads the IDX dataset at {@code from} and writes the subset to the directory {@code out}. */
    public static void write(String from, String out, int trainPerClass, int testPerClass, int numClasses, long seed,
                             Configuration conf) {
        DatasetFiles source = DatasetFiles.open(from, conf);
        if (!IdxDataset.present(source)) {
            throw new DatasetException("--from: " + from + " holds no IDX files (" + String.join(", ", IdxDataset.FILES) + ")");
        }
        Random random = new Random(seed);
        try {
            Path outDir = new Path(out);
            FileSystem fs = outDir.getFileSystem(conf);
            fs.setWriteChecksum(false); // no .crc side files next to the shipped data
            fs.mkdirs(outDir);
            writeSplit(source, fs, outDir, IdxDataset.TRAIN_IMAGES, IdxDataset.TRAIN_LABELS, "train-indices.txt",
                    trainPerClass, numClasses, random);
            writeSplit(source, fs, outDir, IdxDataset.TEST_IMAGES, IdxDataset.TEST_LABELS, "test-indices.txt",
                    testPerClass, numClasses, random);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the subset to " + out + ": " + e.getMessage(), e);
        }
    }

    private static void writeSplit(DatasetFiles source, FileSystem fs, Path outDir, String imagesName, String labelsName,
                                   String indicesName, int perClass, int numClasses, Random random) throws IOException {
        byte[] labels = IdxFiles.readLabels(source, IdxDataset.find(source, labelsName));
        IdxFiles.Images images = IdxFiles.readImages(source, IdxDataset.find(source, imagesName));
        int[] chosen = select(labels, numClasses, perClass, random);
        List<byte[]> keptImages = new ArrayList<>(chosen.length);
        byte[] keptLabels = new byte[chosen.length];
        StringBuilder indices = new StringBuilder();
        for (int k = 0; k < chosen.length; k++) {
            keptImages.add(images.images().get(chosen[k]));
            keptLabels[k] = labels[chosen[k]];
            indices.append(chosen[k]).append('\n');
        }
        try (OutputStream o = gzip(fs, new Path(outDir, imagesName + ".gz"))) {
            IdxFiles.writeImages(o, images.rows(), images.cols(), keptImages);
        }
        try (OutputStream o = gzip(fs, new Path(outDir, labelsName + ".gz"))) {
            IdxFiles.writeLabels(o, keptLabels);
        }
        try (FSDataOutputStream o = fs.create(new Path(outDir, indicesName), true)) {
            o.write(indices.toString().getBytes(StandardCharsets.US_ASCII));
        }
    }

    /** GZIPOutputStream writes a fixed header (no file name, time 0), so the output is reproducible. */
    private static OutputStream gzip(FileSystem fs, Path file) throws IOException {
        return new GZIPOutputStream(fs.create(file, true), 1 << 16) {
            {
                def.setLevel(Deflater.BEST_COMPRESSION);
            }
        };
    }
}
