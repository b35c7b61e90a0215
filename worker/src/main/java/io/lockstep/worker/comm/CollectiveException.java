package io.lockstep.worker.comm;

/** A collective operation failed; the message says which operation, which ranks and why. */
public class CollectiveException extends RuntimeException {
    public CollectiveException(String message) {
        super(message);
    }

    public CollectiveException(String message, Throwable cause) {
        super(message, cause);
    }
}
