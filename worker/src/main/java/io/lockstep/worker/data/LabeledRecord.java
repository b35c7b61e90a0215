package io.lockstep.worker.data;

import java.io.Serial;
import java.io.Serializable;

/**
 * One example as the driver keeps it and ships it to the executors: a class index and either raw
 * pixels or the encoded file bytes (PNG/JPEG), never decoded arrays. How to read {@link #payload()}
 * is a property of the whole dataset ({@link RecordFormat}), not of each record, so a record costs
 * its payload plus a few bytes.
 *
 * <p>A plain final class rather than a Java record: Spark may serialize RDD elements with Kryo, whose
 * field serializer cannot construct Java records. Immutable by contract: the payload array is
 * shared, not copied, so callers must not modify it after construction.
 */
public final class LabeledRecord implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    private final int label;
    private final byte[] payload;
    /** Where the record came from (a file path), for error messages; null for raw-pixel formats. */
    private final String source;

    public LabeledRecord(int label, byte[] payload, String source) {
        if (label < 0) {
            throw new IllegalArgumentException("label must be non-negative, got " + label + " for " + source);
        }
        if (payload == null) {
            throw new IllegalArgumentException("payload must not be null (record from " + source + ")");
        }
        this.label = label;
        this.payload = payload;
        this.source = source;
    }

    /** A raw-pixel record; its origin is implied by its position in the dataset. */
    public LabeledRecord(int label, byte[] payload) {
        this(label, payload, null);
    }

    public int label() {
        return label;
    }

    /** The bytes; do not modify. */
    public byte[] payload() {
        return payload;
    }

    /** The file this record was read from, or null when it is one of many records of one file. */
    public String source() {
        return source;
    }

    /** How errors name this record. */
    public String describe() {
        return source != null ? source : "record with label " + label;
    }

    @Override
    public String toString() {
        return "LabeledRecord[label=" + label + ", " + payload.length + " bytes" + (source != null ? ", " + source : "") + "]";
    }
}
