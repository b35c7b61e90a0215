package io.lockstep.worker.comm;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Shape of the float and double all-reduces of a collective (broadcast, all-gather and barrier always
 * use the flat ring). Every rank of a group must use the same value; the choice itself is deterministic
 * from the endpoints every rank holds, so ranks agree on it without talking ({@link HostLayout}).
 */
public enum AllReduceTopology {
    /** Hierarchical when the group spans two or more hosts with the same number (two or more) of ranks each. */
    AUTO,
    /** One ring over all ranks, ordered by host so co-located ranks are neighbours. */
    FLAT,
    /**
     * Reduce-scatter within each host, one all-reduce per shard across hosts, all-gather within each host.
     * Opening the collective fails, naming the reason, when the group's layout does not allow it.
     */
    HIERARCHICAL;

    /** The name used in options, logs and run summaries: {@code auto}, {@code flat} or {@code hierarchical}. */
    public String optionName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses {@link #optionName()}. @throws IllegalArgumentException listing the valid names */
    public static AllReduceTopology parse(String name) {
        for (AllReduceTopology topology : values()) {
            if (topology.optionName().equalsIgnoreCase(name == null ? "" : name.trim())) {
                return topology;
            }
        }
        throw new IllegalArgumentException("unknown all-reduce topology '" + name + "'; use one of "
                + Arrays.stream(values()).map(AllReduceTopology::optionName).collect(Collectors.joining(", ")));
    }
}
