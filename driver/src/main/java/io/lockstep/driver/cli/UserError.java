package io.lockstep.driver.cli;

/** The user's input or options are wrong; the message says what and how to fix it. Exit code 2. */
public class UserError extends IllegalArgumentException {
    public UserError(String message) {
        super(message);
    }

    public UserError(String message, Throwable cause) {
        super(message, cause);
    }
}
