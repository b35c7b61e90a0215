package io.lockstep.driver.data;

import io.lockstep.worker.data.AugmentRandom;
import io.lockstep.worker.data.BadRecordException;
import io.lockstep.worker.data.ImageTransform;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.Normalizer;
import io.lockstep.worker.data.RecordDecoder;
import io.lockstep.worker.data.RecordFormat;
import io.lockstep.worker.data.SkippedRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.Serial;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * The core of {@code lockstep inspect-data}: a text report of a dataset (records per class and split,
 * image sizes, formats and channels seen, unreadable files with reasons, the transform) and a contact
 * sheet: one row per class with a few training images as the model sees them at evaluation (left)
 * and the same images with the training augmentation (right).
 *
 * <p>{@link #inspect} gathers what both need into an {@link Inspection}, from a dataset the driver read
 * or one the executors read. On the executors, counts and the survey come from the read job's
 * aggregation and only the chosen images reach the driver. The images shown are chosen by a rule that
 * does not depend on how records are partitioned ({@link #rank}), so both paths show the same images
 * and write the same sheet. Single-threaded; stateless.
 */
public final class DataInspector {
    private static final Logger LOG = LoggerFactory.getLogger(DataInspector.class);
    private static final int LABEL_WIDTH = 120;
    private static final int GAP = 4;
    private static final int MIN_TILE = 48;
    /** Unreadable files the report names (the first by name); it counts them all. */
    static final int UNREADABLE_LISTED = 100;

    private DataInspector() {
    }

    /**
     * What the report and the contact sheet show of a dataset; holds only the chosen images' records.
     *
     * @param chosen          per class (index = label), the training records shown, in sheet order
     * @param unreadable      the first {@link #UNREADABLE_LISTED} unreadable records by name
     * @param unreadableCount all unreadable records
     */
    public record Inspection(String uri, String format, int trainSize, int testSize, List<String> classNames,
                             RecordFormat recordFormat, ImageTransform transform, ImageSurvey survey, int[] trainCounts,
                             int[] testCounts, List<SkippedRecord> unreadable, int unreadableCount,
                             List<List<LabeledRecord>> chosen) {
        public int numClasses() {
            return classNames.size();
        }
    }

    /** Everything a dataset the driver read shows; the choice of images as on the executors. */
    public static Inspection inspect(LoadedDataset dataset, int perClass, long seed) {
        checkPerClass(perClass);
        List<Chosen> byClass = new ArrayList<>();
        for (int c = 0; c < dataset.numClasses(); c++) {
            byClass.add(new Chosen(perClass));
        }
        List<LabeledRecord> train = dataset.train();
        for (int i = 0; i < train.size(); i++) {
            LabeledRecord r = train.get(i);
            byClass.get(r.label()).add(Candidate.of(seed, r.source() != null ? r.source() : "train:" + i, r));
        }
        return new Inspection(dataset.uri(), dataset.format(), dataset.train().size(), dataset.test().size(), dataset.classNames(),
                dataset.recordFormat(), dataset.transform(), dataset.survey(), dataset.classCounts(false), dataset.classCounts(true),
                firstByName(dataset.skipped()), dataset.skipped().size(), byClass.stream().map(Chosen::records).toList());
    }

    /**
     * Everything a dataset the executors read shows: counts, survey and unreadable files from its read job;
     * the images by one aggregation that keeps, per partition and then per class, only the {@code perClass}
     * records of lowest {@link #rank}, so the driver receives at most {@code perClass} records per class.
     */
    public static Inspection inspect(DistributedDataset dataset, int perClass, long seed) {
        checkPerClass(perClass);
        int classes = dataset.classNames().size();
        Map<Integer, Chosen> found = dataset.identified(false)
                .mapToPair(t -> new Tuple2<>(t._2().label(), Candidate.of(seed, t._1(), t._2())))
                .aggregateByKey(new Chosen(perClass), Chosen::add, Chosen::merge)
                .collectAsMap();
        List<List<LabeledRecord>> chosen = new ArrayList<>();
        for (int c = 0; c < classes; c++) {
            Chosen some = found.get(c);
            chosen.add(some == null ? List.of() : some.records());
        }
        return new Inspection(dataset.uri(), dataset.format(), dataset.trainSize(), dataset.testSize(), dataset.classNames(),
                dataset.recordFormat(), dataset.transform(), dataset.survey(), dataset.classCounts(false), dataset.classCounts(true),
                firstByName(dataset.skipped()), dataset.skippedCount(), chosen);
    }

    private static void checkPerClass(int perClass) {
        if (perClass < 1) {
            throw new IllegalArgumentException("--per-class must be at least 1, got " + perClass);
        }
    }

    private static List<SkippedRecord> firstByName(List<SkippedRecord> skipped) {
        return skipped.stream()
                .sorted(Comparator.comparing(SkippedRecord::source, Comparator.nullsFirst(Comparator.<String>naturalOrder()))
                        .thenComparing(SkippedRecord::reason, Comparator.nullsFirst(Comparator.<String>naturalOrder())))
                .limit(UNREADABLE_LISTED)
                .toList();
    }

    /**
     * A record's place in the seeded choice: a 64-bit mix of the seed and the record's id (its source, or
     * {@code train:INDEX}), the same wherever and in whichever partition the record was read.
     */
    static long rank(long seed, String id) {
        long h = 0xcbf29ce484222325L; // FNV-1a over the id's chars, then SplitMix64's finalizer with the seed
        for (int i = 0; i < id.length(); i++) {
            h = (h ^ id.charAt(i)) * 0x100000001b3L;
        }
        long z = h + seed * 0x9e3779b97f4a7c15L;
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** A training record with its rank and id. A plain class, not a Java record, so Kryo can serialize it. */
    static final class Candidate implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;
        final long rank;
        final String id;
        final LabeledRecord record;

        private Candidate(long rank, String id, LabeledRecord record) {
            this.rank = rank;
            this.id = id;
            this.record = record;
        }

        static Candidate of(long seed, String id, LabeledRecord record) {
            return new Candidate(rank(seed, id), id, record);
        }
    }

    private static final Comparator<Candidate> ORDER = Comparator.<Candidate>comparingLong(c -> c.rank).thenComparing(c -> c.id);

    /** The {@code limit} candidates of lowest (rank, id) seen so far, sorted; mutable, merged across partitions. */
    static final class Chosen implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;
        private final int limit;
        private final ArrayList<Candidate> kept = new ArrayList<>();

        Chosen(int limit) {
            this.limit = limit;
        }

        Chosen add(Candidate c) {
            if (kept.size() == limit && ORDER.compare(c, kept.get(limit - 1)) >= 0) {
                return this;
            }
            int at = Collections.binarySearch(kept, c, ORDER);
            kept.add(at < 0 ? -at - 1 : at, c);
            if (kept.size() > limit) {
                kept.remove(limit);
            }
            return this;
        }

        Chosen merge(Chosen other) {
            for (Candidate c : other.kept) {
                add(c);
            }
            return this;
        }

        int size() {
            return kept.size();
        }

        List<LabeledRecord> records() {
            return kept.stream().map(c -> c.record).toList();
        }
    }

    /** The text report. */
    public static String report(Inspection dataset) {
        StringBuilder s = new StringBuilder();
        s.append(String.format("dataset      %s%nformat       %s%nrecords      %d train, %d test%nclasses      %d%n",
                dataset.uri(), dataset.format(), dataset.trainSize(), dataset.testSize(), dataset.numClasses()));
        s.append(String.format("stored as    %s%nmodel input  %s%n", dataset.recordFormat(), dataset.transform().describe()));
        if (!dataset.transform().augments()) {
            s.append("augmentation none configured for training (see --crop-padding, --hflip, --random-resized-crop)\n");
        }
        ImageSurvey survey = dataset.survey();
        if (survey != null) {
            s.append(String.format("image sizes  %s%n", survey.describeSizes(10)));
            s.append(String.format("formats      %s%n", survey.formats()));
            s.append(String.format("channels     %s (1 = grayscale, 3 = color)%s%n", describeChannels(survey.channels()),
                    survey.withAlpha() > 0 ? ", " + survey.withAlpha() + " with alpha (ignored)" : ""));
        }
        int[] train = dataset.trainCounts();
        int[] test = dataset.testCounts();
        s.append(String.format("%n%-6s %-28s %9s %9s%n", "label", "class", "train", "test"));
        for (int c = 0; c < dataset.numClasses(); c++) {
            s.append(String.format("%-6d %-28s %9d %9d%n", c, dataset.classNames().get(c), train[c], test[c]));
        }
        s.append(String.format("%nunreadable   %d%n", dataset.unreadableCount()));
        for (SkippedRecord r : dataset.unreadable()) {
            s.append("  ").append(r.source()).append(": ").append(r.reason()).append('\n');
        }
        if (dataset.unreadableCount() > dataset.unreadable().size()) {
            s.append("  ... and ").append(dataset.unreadableCount() - dataset.unreadable().size()).append(" more\n");
        }
        return s.toString();
    }

    private static String describeChannels(Map<Integer, Integer> channels) {
        StringBuilder s = new StringBuilder();
        channels.forEach((c, n) -> s.append(s.length() == 0 ? "" : ", ").append(n).append(" with ").append(c));
        return s.toString();
    }

    /**
     * The chosen training images of every class ({@code perClass} columns), each shown without and with
     * the training augmentation (seeded by {@code seed} and the class). Images are upscaled by an integer
     * factor to at least 48 pixels.
     *
     * @throws BadRecordException if a chosen image cannot be decoded (read with --verify-images full first)
     */
    public static BufferedImage contactSheet(Inspection dataset, int perClass, long seed) {
        checkPerClass(perClass);
        ImageTransform training = dataset.transform();
        ImageTransform evaluation = training.deterministic();
        int h = training.height();
        int w = training.width();
        int scale = Math.max(1, Math.min(8, (MIN_TILE + Math.max(h, w) - 1) / Math.max(h, w)));
        int tileH = h * scale;
        int tileW = w * scale;
        int classes = dataset.numClasses();
        int headerH = 20;
        int width = LABEL_WIDTH + 2 * perClass * (tileW + GAP) + 3 * GAP;
        int height = headerH + classes * (tileH + GAP) + GAP;
        BufferedImage sheet = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = sheet.createGraphics();
        g.setColor(new Color(40, 40, 40));
        g.fillRect(0, 0, width, height);
        List<List<LabeledRecord>> chosen = dataset.chosen();
        try (RecordDecoder plain = new RecordDecoder(dataset.recordFormat(), evaluation);
             RecordDecoder augmented = new RecordDecoder(dataset.recordFormat(), training)) {
            float[] pixels = new float[plain.outputSize()];
            int augmentedLeft = LABEL_WIDTH + perClass * (tileW + GAP) + 2 * GAP;
            for (int c = 0; c < classes; c++) {
                int top = headerH + c * (tileH + GAP);
                AugmentRandom random = new AugmentRandom(seed, 0, 0, c);
                List<LabeledRecord> records = chosen.get(c);
                for (int i = 0; i < records.size(); i++) {
                    plain.decode(records.get(i), null, pixels, 0);
                    paint(sheet, pixels, evaluation, LABEL_WIDTH + GAP + i * (tileW + GAP), top, scale);
                    augmented.decode(records.get(i), random, pixels, 0);
                    paint(sheet, pixels, training, augmentedLeft + i * (tileW + GAP), top, scale);
                }
            }
            label(g, dataset, headerH, tileH, augmentedLeft);
        } finally {
            g.dispose();
        }
        return sheet;
    }

    private static void label(Graphics2D g, Inspection dataset, int headerH, int tileH, int augmentedLeft) {
        try {
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            g.setColor(Color.WHITE);
            g.drawString("as evaluated", LABEL_WIDTH + GAP, 14);
            g.drawString(dataset.transform().augments() ? "augmented for training" : "augmented (no augmentation configured)",
                    augmentedLeft, 14);
            for (int c = 0; c < dataset.numClasses(); c++) {
                String className = dataset.classNames().get(c);
                String name = className.equals(Integer.toString(c)) ? className : c + " " + className;
                g.drawString(name.length() > 18 ? name.substring(0, 17) + "…" : name, 4, headerH + c * (tileH + GAP) + tileH / 2 + 5);
            }
        } catch (RuntimeException | LinkageError e) {
            // Headless hosts without fonts: the sheet is still useful, the report lists the classes in row order.
            LOG.warn("cannot draw text on the contact sheet (no fonts on this host?): {}; rows are the classes in label order", e.toString());
        }
    }

    /** Undoes the normalization, clamps to [0,1] and draws the planar image upscaled by {@code scale}. */
    private static void paint(BufferedImage sheet, float[] chw, ImageTransform transform, int left, int top, int scale) {
        int h = transform.height();
        int w = transform.width();
        int plane = h * w;
        Normalizer n = transform.normalizer();
        float[] mean = n.mean();
        float[] std = n.std();
        boolean gray = transform.channels() == 1;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = y * w + x;
                int r = level(chw[i], mean[0], std[0]);
                int rgb = gray ? r << 16 | r << 8 | r
                        : r << 16 | level(chw[plane + i], mean[1], std[1]) << 8 | level(chw[2 * plane + i], mean[2], std[2]);
                for (int dy = 0; dy < scale; dy++) {
                    for (int dx = 0; dx < scale; dx++) {
                        sheet.setRGB(left + x * scale + dx, top + y * scale + dy, rgb);
                    }
                }
            }
        }
    }

    private static int level(float normalized, float mean, float std) {
        float v = normalized * std + mean;
        return Math.round(Math.max(0f, Math.min(1f, v)) * 255f);
    }
}
