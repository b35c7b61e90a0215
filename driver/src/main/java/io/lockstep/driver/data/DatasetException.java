package io.lockstep.driver.data;

import io.lockstep.driver.cli.UserError;

/**
 * The dataset cannot be used as given: a missing path, a file in the wrong format, truncated or
 * inconsistent files, labels out of range, an empty dataset. The message names the file (and the
 * record, where there is one) and says how to fix it. A {@link UserError}, so the command line exits
 * with code 2 and prints the message alone.
 */
public class DatasetException extends UserError {
    public DatasetException(String message) {
        super(message);
    }

    public DatasetException(String message, Throwable cause) {
        super(message, cause);
    }
}
