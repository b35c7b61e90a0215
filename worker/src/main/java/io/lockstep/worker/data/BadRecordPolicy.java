package io.lockstep.worker.data;

import java.util.Locale;

/**
 * What to do with a record that cannot be read or decoded (corrupt or truncated image, non-image
 * file, empty class folder). {@link #FAIL} (the default) stops with a message naming the file;
 * {@link #SKIP} leaves the record out, counts it and lists it (file, reason) for the run summary.
 */
public enum BadRecordPolicy {
    FAIL, SKIP;

    /** Parses {@code fail} or {@code skip} (the {@code --bad-records} option). */
    public static BadRecordPolicy parse(String text) {
        for (BadRecordPolicy policy : values()) {
            if (policy.name().equalsIgnoreCase(text.trim())) {
                return policy;
            }
        }
        throw new IllegalArgumentException("--bad-records: '" + text + "' is not one of fail, skip");
    }

    public String optionValue() {
        return name().toLowerCase(Locale.ROOT);
    }
}
