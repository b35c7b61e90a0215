package io.lockstep.worker.data;

import java.io.Serializable;

/** A record left out under {@link BadRecordPolicy#SKIP}: which file (or record) and why. */
public record SkippedRecord(String source, String reason) implements Serializable {
    @Override
    public String toString() {
        return source + ": " + reason;
    }
}
