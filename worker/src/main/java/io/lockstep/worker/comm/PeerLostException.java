package io.lockstep.worker.comm;

import java.util.List;

/**
 * A peer left the group while an operation still needed it: its stream ended (it closed its
 * collective, or its process exited). Raised at once, without waiting for the deadline.
 */
public class PeerLostException extends CollectiveException {
    private final List<Integer> lostRanks;

    public PeerLostException(String message, List<Integer> lostRanks) {
        super(message);
        this.lostRanks = List.copyOf(lostRanks);
    }

    public List<Integer> lostRanks() {
        return lostRanks;
    }
}
