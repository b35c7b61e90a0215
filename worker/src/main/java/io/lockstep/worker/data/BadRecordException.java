package io.lockstep.worker.data;

/**
 * A record could not be decoded on the executor (corrupt or truncated image, unsupported encoding).
 * The message names the file and the reason; under {@link BadRecordPolicy#SKIP} the decoder counts
 * the record instead of throwing.
 */
public class BadRecordException extends RuntimeException {
    private final String source;

    public BadRecordException(String source, String reason, Throwable cause) {
        super(source + ": " + reason + " (fix or remove the file, or run with --bad-records skip)", cause);
        this.source = source;
    }

    public BadRecordException(String source, String reason) {
        this(source, reason, null);
    }

    /** The file or record that failed. */
    public String source() {
        return source;
    }
}
