package io.lockstep.driver.train;

/** Training stopped on purpose (loss not finite); the message names where and the last good checkpoint. */
public class TrainingStoppedException extends RuntimeException {
    public TrainingStoppedException(String message) {
        super(message);
    }
}
