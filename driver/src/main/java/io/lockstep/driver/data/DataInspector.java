package io.lockstep.driver.data;

import io.lockstep.worker.data.AugmentRandom;
import io.lockstep.worker.data.BadRecordException;
import io.lockstep.worker.data.ImageTransform;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.Normalizer;
import io.lockstep.worker.data.RecordDecoder;
import io.lockstep.worker.data.SkippedRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The core of {@code lockstep inspect-data}: a text report of a dataset (records per class and split,
 * image sizes, formats and channels seen, unreadable files with reasons, the transform) and a contact
 * sheet: one row per class with a few training images as the model sees them at evaluation (left)
 * and the same images with the training augmentation (right). Single-threaded; stateless.
 */
public final class DataInspector {
    private static final Logger LOG = LoggerFactory.getLogger(DataInspector.class);
    private static final int LABEL_WIDTH = 120;
    private static final int GAP = 4;
    private static final int MIN_TILE = 48;

    private DataInspector() {
    }

    /** The text report. */
    public static String report(LoadedDataset dataset) {
        StringBuilder s = new StringBuilder();
        s.append(String.format("dataset      %s%nformat       %s%nrecords      %d train, %d test%nclasses      %d%n",
                dataset.uri(), dataset.format(), dataset.train().size(), dataset.test().size(), dataset.numClasses()));
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
        int[] train = dataset.classCounts(false);
        int[] test = dataset.classCounts(true);
        s.append(String.format("%n%-6s %-28s %9s %9s%n", "label", "class", "train", "test"));
        for (int c = 0; c < dataset.numClasses(); c++) {
            s.append(String.format("%-6d %-28s %9d %9d%n", c, dataset.classNames().get(c), train[c], test[c]));
        }
        List<SkippedRecord> skipped = dataset.skipped();
        s.append(String.format("%nunreadable   %d%n", skipped.size()));
        for (SkippedRecord r : skipped) {
            s.append("  ").append(r.source()).append(": ").append(r.reason()).append('\n');
        }
        return s.toString();
    }

    private static String describeChannels(Map<Integer, Integer> channels) {
        StringBuilder s = new StringBuilder();
        channels.forEach((c, n) -> s.append(s.length() == 0 ? "" : ", ").append(n).append(" with ").append(c));
        return s.toString();
    }

    /**
     * Up to {@code perClass} training images of every class (a seeded choice), each shown without and
     * with the training augmentation. Images are upscaled by an integer factor to at least 48 pixels.
     *
     * @throws BadRecordException if a chosen image cannot be decoded (read with --verify-images full first)
     */
    public static BufferedImage contactSheet(LoadedDataset dataset, int perClass, long seed) {
        if (perClass < 1) {
            throw new IllegalArgumentException("--per-class must be at least 1, got " + perClass);
        }
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
        List<List<LabeledRecord>> chosen = choose(dataset, perClass, seed);
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

    private static void label(Graphics2D g, LoadedDataset dataset, int headerH, int tileH, int augmentedLeft) {
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

    private static List<List<LabeledRecord>> choose(LoadedDataset dataset, int perClass, long seed) {
        List<List<LabeledRecord>> byClass = new ArrayList<>();
        for (int c = 0; c < dataset.numClasses(); c++) {
            byClass.add(new ArrayList<>());
        }
        for (LabeledRecord r : dataset.train()) {
            byClass.get(r.label()).add(r);
        }
        AugmentRandom random = new AugmentRandom(seed, -1, -1, -1);
        List<List<LabeledRecord>> chosen = new ArrayList<>();
        for (List<LabeledRecord> records : byClass) {
            // A partial Fisher-Yates shuffle: the first perClass entries are a uniform seeded choice.
            int n = Math.min(perClass, records.size());
            for (int i = 0; i < n; i++) {
                int j = i + random.nextInt(records.size() - i);
                LabeledRecord t = records.get(i);
                records.set(i, records.get(j));
                records.set(j, t);
            }
            chosen.add(List.copyOf(records.subList(0, n)));
        }
        return chosen;
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
