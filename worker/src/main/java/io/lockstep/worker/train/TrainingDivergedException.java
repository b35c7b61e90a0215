package io.lockstep.worker.train;

/** Training cannot go on: the loss is not finite, or replicas no longer hold identical parameters. */
public class TrainingDivergedException extends RuntimeException {
    private final int epoch;
    private final long step;

    public TrainingDivergedException(String message, int epoch, long step) {
        super(message);
        this.epoch = epoch;
        this.step = step;
    }

    public int epoch() {
        return epoch;
    }

    public long step() {
        return step;
    }
}
