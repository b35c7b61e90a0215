package io.lockstep.driver.data;

import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.SkippedRecord;

import java.io.Serial;
import java.io.Serializable;

/**
 * One record as an executor read it from the dataset's files, before the driver knows which records
 * are bad: its split and its id in the listing (position among the listed records of its split), and
 * either the record or why it was left out. What the image header said rides along for the survey.
 * A plain final class (not a Java record) so that Kryo can serialize cached instances.
 */
final class ReadRecord implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    final boolean test;
    final int id;
    /** The record, or null when it could not be read (then {@link #skipped} says why). */
    final LabeledRecord record;
    final SkippedRecord skipped;
    /** Image header facts (encoded images only; format null otherwise). */
    final String format;
    final int width;
    final int height;
    final int channels;
    final boolean alpha;

    ReadRecord(boolean test, int id, LabeledRecord record, SkippedRecord skipped, String format, int width, int height,
               int channels, boolean alpha) {
        this.test = test;
        this.id = id;
        this.record = record;
        this.skipped = skipped;
        this.format = format;
        this.width = width;
        this.height = height;
        this.channels = channels;
        this.alpha = alpha;
    }

    static ReadRecord raw(boolean test, int id, LabeledRecord record) {
        return new ReadRecord(test, id, record, null, null, 0, 0, 0, false);
    }

    boolean good() {
        return record != null;
    }
}
