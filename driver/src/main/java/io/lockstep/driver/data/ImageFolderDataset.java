package io.lockstep.driver.data;

import io.lockstep.worker.data.BadRecordException;
import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.ImageProbe;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.RecordFormat;
import io.lockstep.worker.data.SkippedRecord;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32;

/**
 * Image folders in the layout of torchvision's {@code ImageFolder} and Keras: {@code ROOT/<class>/...}
 * with {@code .jpg}, {@code .jpeg} or {@code .png} files (class folders are searched recursively).
 * Class indices are the class folder names in sorted (Unicode) order.
 *
 * <p>Splits: if ROOT has a {@code train/} folder, its class folders are the training set and
 * {@code val/} (or, if there is none, {@code test/}) the test set; a class of the test set must also
 * be a class of the training set. Without {@code val/} or {@code test/} (or without {@code train/}),
 * each class is split: a file goes to the test set when the CRC-32 of its path relative to the split
 * root falls in the first {@code valFraction} of the range, so the split is stable across runs and
 * machines and does not move when files are added.
 *
 * <p>Files whose names start with {@code .} or {@code _} (.DS_Store, _SUCCESS) are ignored, as are
 * files directly in a split root (READMEs). Every image is read whole on the driver (the encoded
 * bytes become the record) by {@code readThreads} threads and checked by {@link ImageProbe}; a file
 * that is not a readable PNG/JPEG, or an empty class folder, fails the read or, under
 * {@link BadRecordPolicy#SKIP}, is listed as skipped.
 */
final class ImageFolderDataset {
    private static final Logger LOG = LoggerFactory.getLogger(ImageFolderDataset.class);
    /** Deadline for reading and checking one image file, so a hung filesystem is reported. */
    static final long READ_TIMEOUT_MS = 300_000;

    private ImageFolderDataset() {
    }

    /** Whether the root has any sub-folder (then it is read as an image folder). */
    static boolean present(DatasetFiles files) {
        for (FileStatus s : files.list(files.root())) {
            if (s.isDirectory() && !hidden(s.getPath().getName())) {
                return true;
            }
        }
        return false;
    }

    static boolean hidden(String name) {
        return name.startsWith(".") || name.startsWith("_");
    }

    static boolean imageName(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        return lower.endsWith(".png") || lower.endsWith(".jpg") || lower.endsWith(".jpeg");
    }

    /** One image file found by listing: where it is, its label and split, its size and the hosts that hold it. */
    record Candidate(Path path, String relative, int label, boolean test, long length, String[] hosts) {
    }

    /** What listing an image folder finds without reading any image: the classes, the files, and what it left out. */
    record Listing(List<String> classes, List<Candidate> candidates, List<SkippedRecord> skipped) {
    }

    static DatasetContent read(DatasetFiles files, DatasetOptions options) {
        Listing listing = list(files, options);
        return load(files, options, listing.classes(), listing.candidates(), listing.skipped());
    }

    /** Lists the class folders and their image files (names, sizes, block hosts); reads no image. */
    static Listing list(DatasetFiles files, DatasetOptions options) {
        Path root = files.root();
        Path trainRoot = files.dirIn(root, "train");
        Path valRoot = files.dirIn(root, "val");
        Path testRoot = files.dirIn(root, "test");
        Path heldOutRoot = valRoot != null ? valRoot : testRoot;
        if (trainRoot == null && heldOutRoot != null) {
            throw new DatasetException("--data: " + files.uri() + " has a " + heldOutRoot.getName() + "/ folder but no train/ folder; "
                    + "put the training images in train/<class>/ (or put all class folders directly in the root and let "
                    + "--val-fraction hold out the test images)");
        }
        if (valRoot != null && testRoot != null) {
            LOG.info("{} has both val/ and test/: evaluating on val/, ignoring test/", files.uri());
        }
        List<SkippedRecord> skipped = new ArrayList<>();
        BadRecordPolicy policy = options.badRecords();
        Path classRoot = trainRoot != null ? trainRoot : root;
        List<String> classes = new ArrayList<>();
        List<Candidate> candidates = new ArrayList<>();
        for (FileStatus entry : files.list(classRoot)) {
            String name = entry.getPath().getName();
            if (hidden(name)) {
                continue;
            }
            if (!entry.isDirectory()) {
                LOG.info("ignoring {}: files directly in {} are not in a class folder", entry.getPath(), classRoot);
                continue;
            }
            List<Candidate> found = new ArrayList<>();
            collect(files, entry.getPath(), files.relative(entry.getPath()), classes.size(), heldOutRoot == null ? -1 : 0,
                    options.valFraction(), found, skipped, policy);
            if (found.isEmpty()) {
                String reason = "class folder has no .jpg, .jpeg or .png files";
                if (policy == BadRecordPolicy.FAIL) {
                    throw new DatasetException(entry.getPath() + ": " + reason + "; add images, remove the folder, or run with --bad-records skip");
                }
                skipped.add(new SkippedRecord(files.relative(entry.getPath()) + "/", reason + " (not used as a class)"));
                continue;
            }
            classes.add(name);
            candidates.addAll(found);
        }
        if (classes.isEmpty()) {
            throw new DatasetException("--data: " + files.uri() + " has no class folders with images; an image dataset is "
                    + "ROOT/<class>/*.jpg|*.jpeg|*.png, optionally under train/ and val/ (or test/)");
        }
        if (heldOutRoot != null) {
            for (FileStatus entry : files.list(heldOutRoot)) {
                String name = entry.getPath().getName();
                if (hidden(name) || !entry.isDirectory()) {
                    continue;
                }
                int label = classes.indexOf(name);
                if (label < 0) {
                    String reason = "class '" + name + "' of " + heldOutRoot.getName() + "/ is not a class of train/ (train/ has "
                            + classes.size() + " classes: " + preview(classes) + ")";
                    if (policy == BadRecordPolicy.FAIL) {
                        throw new DatasetException(entry.getPath() + ": " + reason
                                + "; add training images for it, remove the folder, or run with --bad-records skip");
                    }
                    skipped.add(new SkippedRecord(files.relative(entry.getPath()) + "/", reason));
                    continue;
                }
                collect(files, entry.getPath(), files.relative(entry.getPath()), label, 1, 0, candidates, skipped, policy);
            }
        }
        return new Listing(classes, candidates, skipped);
    }

    private static String preview(List<String> names) {
        return names.size() <= 8 ? String.join(", ", names) : String.join(", ", names.subList(0, 8)) + ", ...";
    }

    /**
     * Adds the images under {@code dir} (recursively). {@code split}: 0 = training, 1 = test,
     * -1 = decide per file with the path hash.
     */
    private static void collect(DatasetFiles files, Path dir, String relativeDir, int label, int split, double valFraction,
                                List<Candidate> out, List<SkippedRecord> skipped, BadRecordPolicy policy) {
        for (FileStatus entry : files.list(dir)) {
            String name = entry.getPath().getName();
            if (hidden(name)) {
                continue;
            }
            String relative = relativeDir + "/" + name;
            if (entry.isDirectory()) {
                collect(files, entry.getPath(), relative, label, split, valFraction, out, skipped, policy);
            } else if (imageName(name)) {
                boolean test = split < 0 ? heldOut(relative, valFraction) : split == 1;
                out.add(new Candidate(entry.getPath(), relative, label, test, entry.getLen(), hosts(entry)));
            } else {
                String reason = "is not a .jpg, .jpeg or .png file";
                if (policy == BadRecordPolicy.FAIL) {
                    throw new DatasetException(entry.getPath() + " " + reason + "; remove it from the class folder or run with --bad-records skip");
                }
                skipped.add(new SkippedRecord(relative, reason));
            }
        }
    }

    private static String[] hosts(FileStatus entry) {
        if (entry instanceof LocatedFileStatus located && located.getBlockLocations() != null
                && located.getBlockLocations().length > 0) {
            try {
                return located.getBlockLocations()[0].getHosts();
            } catch (java.io.IOException e) {
                return new String[0];
            }
        }
        return new String[0];
    }

    /** The stable hash split: the file's path below the dataset root decides. */
    static boolean heldOut(String relativePath, double valFraction) {
        CRC32 crc = new CRC32();
        crc.update(relativePath.getBytes(StandardCharsets.UTF_8));
        return crc.getValue() < valFraction * (1L << 32);
    }

    private record Loaded(byte[] bytes, ImageProbe.ImageInfo info) {
    }

    private static DatasetContent load(DatasetFiles files, DatasetOptions options, List<String> classes, List<Candidate> candidates,
                                       List<SkippedRecord> skipped) {
        boolean full = options.decodeWhenRead();
        int threads = Math.max(1, Math.min(options.readThreads(), candidates.size()));
        AtomicInteger threadCount = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "lockstep-image-reader-" + threadCount.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        List<LabeledRecord> train = new ArrayList<>();
        List<LabeledRecord> test = new ArrayList<>();
        ImageSurvey survey = new ImageSurvey();
        try {
            List<Future<Loaded>> futures = new ArrayList<>(candidates.size());
            for (Candidate c : candidates) {
                futures.add(pool.submit(() -> {
                    byte[] bytes = files.readAll(c.path());
                    return new Loaded(bytes, ImageProbe.probe(bytes, c.relative(), full));
                }));
            }
            Map<Integer, Integer> perClass = new LinkedHashMap<>();
            for (int i = 0; i < candidates.size(); i++) {
                Candidate c = candidates.get(i);
                Loaded loaded;
                try {
                    loaded = futures.get(i).get(READ_TIMEOUT_MS, TimeUnit.MILLISECONDS);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof BadRecordException bad && options.badRecords() == BadRecordPolicy.SKIP) {
                        skipped.add(new SkippedRecord(c.relative(), bad.getMessage()));
                        continue;
                    }
                    if (e.getCause() instanceof BadRecordException bad) {
                        throw new DatasetException(files.uri().replaceAll("/+$", "") + "/" + bad.getMessage(), bad);
                    }
                    if (e.getCause() instanceof DatasetException d) {
                        throw d;
                    }
                    throw new DatasetException("cannot read " + c.path() + ": " + e.getCause(), e.getCause());
                } catch (TimeoutException e) {
                    throw new DatasetException("reading " + c.path() + " took longer than " + READ_TIMEOUT_MS
                            + " ms; the filesystem is not responding (check the cluster or the network)", e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new DatasetException("interrupted while reading " + c.path(), e);
                }
                ImageProbe.ImageInfo info = loaded.info();
                survey.add(info.format(), info.width(), info.height(), info.channels(), info.alpha());
                (c.test() ? test : train).add(new LabeledRecord(c.label(), loaded.bytes(), c.relative()));
                if (!c.test()) {
                    perClass.merge(c.label(), 1, Integer::sum);
                }
            }
            for (int label = 0; label < classes.size(); label++) {
                if (!perClass.containsKey(label)) {
                    throw new DatasetException("class '" + classes.get(label) + "' has no training images left"
                            + (skipped.isEmpty() ? "" : " (" + skipped.size() + " records were skipped as unreadable)")
                            + "; without train/ and val/ folders a class of very few images can lose them all to the test split"
                            + " (--val-fraction); add images to its folder or remove it");
                }
            }
        } finally {
            pool.shutdownNow();
        }
        if (!skipped.isEmpty()) {
            LOG.warn("skipped {} bad records (--bad-records skip), first: {}", skipped.size(), skipped.get(0));
        }
        return new DatasetContent("image-folder", List.copyOf(classes), RecordFormat.encoded(), train, test, null, skipped, survey);
    }
}
