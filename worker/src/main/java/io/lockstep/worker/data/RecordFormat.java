package io.lockstep.worker.data;

import java.io.Serial;
import java.io.Serializable;

/**
 * How the payload of every {@link LabeledRecord} of one dataset is laid out: either raw unsigned
 * 8-bit pixels, channels first ({@code channels x height x width} bytes, as IDX and CIFAR store
 * them), or an encoded image file (PNG or JPEG) whose size and channels are known only after decoding.
 * Immutable and serializable; travels to the executors inside the decoder.
 */
public final class RecordFormat implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    private final boolean encoded;
    private final int channels;
    private final int height;
    private final int width;

    private RecordFormat(boolean encoded, int channels, int height, int width) {
        this.encoded = encoded;
        this.channels = channels;
        this.height = height;
        this.width = width;
    }

    /** Raw pixels: {@code channels * height * width} bytes per record, channel planes one after another. */
    public static RecordFormat raw(int channels, int height, int width) {
        if (channels != 1 && channels != 3) {
            throw new IllegalArgumentException("raw records must have 1 or 3 channels, got " + channels);
        }
        if (height <= 0 || width <= 0) {
            throw new IllegalArgumentException("raw records must have a positive size, got " + height + "x" + width);
        }
        return new RecordFormat(false, channels, height, width);
    }

    /** Encoded PNG or JPEG files, any size, grayscale or color. */
    public static RecordFormat encoded() {
        return new RecordFormat(true, 0, 0, 0);
    }

    public boolean isEncoded() {
        return encoded;
    }

    /** Channels of a raw record; 0 for encoded records. */
    public int channels() {
        return channels;
    }

    /** Height of a raw record in pixels; 0 for encoded records. */
    public int height() {
        return height;
    }

    /** Width of a raw record in pixels; 0 for encoded records. */
    public int width() {
        return width;
    }

    /** Bytes of one raw record; 0 for encoded records. */
    public int rawBytes() {
        return channels * height * width;
    }

    @Override
    public String toString() {
        return encoded ? "encoded PNG/JPEG" : "raw " + channels + "x" + height + "x" + width + " bytes";
    }
}
