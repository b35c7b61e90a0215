package io.lockstep.models.torch;

/**
 * A weight file cannot be read or does not fit the model. The message names the file, the tensor
 * involved (with its shape and the expected one) and the fix.
 */
public final class WeightImportException extends RuntimeException {
    public WeightImportException(String message) {
        super(message);
    }

    public WeightImportException(String message, Throwable cause) {
        super(message, cause);
    }
}
