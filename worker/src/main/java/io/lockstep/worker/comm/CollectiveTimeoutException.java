package io.lockstep.worker.comm;

import java.util.List;

/** A collective operation passed its deadline; {@link #silentRanks()} names the peers it waited for. */
public class CollectiveTimeoutException extends CollectiveException {
    private final List<Integer> silentRanks;

    public CollectiveTimeoutException(String message, List<Integer> silentRanks) {
        super(message);
        this.silentRanks = List.copyOf(silentRanks);
    }

    public List<Integer> silentRanks() {
        return silentRanks;
    }
}
