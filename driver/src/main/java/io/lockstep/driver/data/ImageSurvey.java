package io.lockstep.driver.data;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the driver saw of an image folder's files (from their headers): how many images of each
 * size, format and channel count. Single-threaded while being filled, then read-only; surveys filled
 * on executors are combined with {@link #merge}.
 */
public final class ImageSurvey implements java.io.Serializable {
    @java.io.Serial
    private static final long serialVersionUID = 1L;

    private final TreeMap<String, Integer> sizes = new TreeMap<>();
    private final TreeMap<String, Integer> formats = new TreeMap<>();
    private final TreeMap<Integer, Integer> channels = new TreeMap<>();
    private int withAlpha;
    private int images;

    void add(String format, int width, int height, int colorChannels, boolean alpha) {
        sizes.merge(width + "x" + height, 1, Integer::sum);
        formats.merge(format, 1, Integer::sum);
        channels.merge(colorChannels, 1, Integer::sum);
        if (alpha) {
            withAlpha++;
        }
        images++;
    }

    void merge(ImageSurvey other) {
        other.sizes.forEach((k, v) -> sizes.merge(k, v, Integer::sum));
        other.formats.forEach((k, v) -> formats.merge(k, v, Integer::sum));
        other.channels.forEach((k, v) -> channels.merge(k, v, Integer::sum));
        withAlpha += other.withAlpha;
        images += other.images;
    }

    /** Images per size {@code WIDTHxHEIGHT}, sorted by size text. */
    public Map<String, Integer> sizes() {
        return Collections.unmodifiableMap(sizes);
    }

    /** Images per format ({@code png}, {@code jpeg}). */
    public Map<String, Integer> formats() {
        return Collections.unmodifiableMap(formats);
    }

    /** Images per color channel count (1 grayscale, 3 color). */
    public Map<Integer, Integer> channels() {
        return Collections.unmodifiableMap(channels);
    }

    public int withAlpha() {
        return withAlpha;
    }

    public int images() {
        return images;
    }

    public boolean anyColor() {
        return channels.containsKey(3);
    }

    /** The single size all images share as {width, height}, or null if they differ or there are none. */
    public int[] commonSize() {
        if (sizes.size() != 1) {
            return null;
        }
        String[] wh = sizes.keySet().iterator().next().split("x");
        return new int[]{Integer.parseInt(wh[0]), Integer.parseInt(wh[1])};
    }

    /** The most frequent sizes, for messages. */
    public String describeSizes(int limit) {
        StringBuilder s = new StringBuilder();
        sizes.entrySet().stream()
                .sorted((a, b) -> Integer.compare(b.getValue(), a.getValue()))
                .limit(limit)
                .forEach(e -> s.append(s.length() == 0 ? "" : ", ").append(e.getKey()).append(" (").append(e.getValue()).append(')'));
        if (sizes.size() > limit) {
            s.append(", ... ").append(sizes.size() - limit).append(" more sizes");
        }
        return s.toString();
    }
}
