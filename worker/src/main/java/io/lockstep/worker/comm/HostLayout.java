package io.lockstep.worker.comm;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Where the ranks of a group run, and the all-reduce shape that follows: ranks are on the same host when
 * their endpoints carry the same {@link Endpoint#hostId()} (the address each rank bound to, exchanged at
 * rendezvous, unless {@link CollectiveConfig#hostId()} names the host otherwise).
 * Every rank computes the same layout from the same endpoint list, so the decision needs no agreement.
 *
 * <p>A hierarchical layout has H hosts of L ranks each. Within a host, ranks are ordered by media driver
 * and rank (the order of the flat ring); a rank's position there is its <em>local index</em>. The host
 * ring of a rank is its host's L ranks in that order; its cross ring is the H ranks of the same local
 * index, one per host, hosts in address order. Immutable.
 *
 * @param hierarchical true when all-reduces take the hierarchical form
 * @param hosts        number of distinct hosts H
 * @param perHost      ranks per host L when every host runs the same number, else 0
 * @param reason       why this form was chosen, for logs and summaries
 * @param hostRings    when hierarchical: rank order of each host's ring, hosts in address order
 */
public record HostLayout(boolean hierarchical, int hosts, int perHost, String reason, int[][] hostRings) {

    /**
     * Decides the all-reduce form for a group.
     *
     * @param byRank every rank's endpoint, indexed by rank
     * @throws CollectiveException when {@code requested} is {@link AllReduceTopology#HIERARCHICAL} and the
     *                             layout does not allow it, naming why
     */
    public static HostLayout of(AllReduceTopology requested, List<Endpoint> byRank) {
        return of(requested, byRank.stream().map(Endpoint::hostId).toList(),
                byRank.stream().map(Endpoint::driverId).toList());
    }

    /**
     * The layout of ranks on the given hosts, e.g. as a report sees the executors' hosts; ranks of a host are
     * ordered by rank.
     *
     * @param hostByRank each rank's host identity, indexed by rank
     */
    public static HostLayout ofHosts(AllReduceTopology requested, List<String> hostByRank) {
        return of(requested, hostByRank, java.util.Collections.nCopies(hostByRank.size(), ""));
    }

    private static HostLayout of(AllReduceTopology requested, List<String> hostByRank, List<String> driverByRank) {
        Map<String, List<Integer>> byHost = new TreeMap<>();
        for (int rank = 0; rank < hostByRank.size(); rank++) {
            byHost.computeIfAbsent(hostByRank.get(rank), host -> new ArrayList<>()).add(rank);
        }
        int hosts = byHost.size();
        int[] counts = byHost.values().stream().mapToInt(List::size).toArray();
        boolean equal = Arrays.stream(counts).allMatch(count -> count == counts[0]);
        int perHost = equal ? counts[0] : 0;
        int size = hostByRank.size();
        String impossible = null;
        if (size < 4) {
            impossible = size + " rank" + (size == 1 ? "" : "s") + " (hierarchy needs at least 2 hosts with at least 2 "
                    + "ranks each)";
        } else if (hosts < 2) {
            impossible = "all " + size + " ranks run on one host (" + byHost.keySet().iterator().next()
                    + "): there is no network between hosts to spare";
        } else if (!equal) {
            impossible = "hosts run unequal numbers of ranks (" + describeCounts(byHost) + "): the cross-host rings "
                    + "need the same number on every host";
        } else if (perHost < 2) {
            impossible = "every one of the " + hosts + " hosts runs a single rank: there is nothing to combine within "
                    + "a host";
        }
        if (requested == AllReduceTopology.FLAT) {
            return new HostLayout(false, hosts, perHost, "flat ring requested (--allreduce-topology flat)", null);
        }
        if (impossible != null) {
            if (requested == AllReduceTopology.HIERARCHICAL) {
                throw new CollectiveException("--allreduce-topology hierarchical (allReduceTopology HIERARCHICAL) is "
                        + "impossible for this group: " + impossible + ". Use --allreduce-topology auto or flat, or run "
                        + "the same number (two or more) of replicas on each of two or more hosts");
            }
            return new HostLayout(false, hosts, perHost, "flat ring: " + impossible, null);
        }
        int[][] rings = new int[hosts][];
        int h = 0;
        for (List<Integer> members : byHost.values()) {
            rings[h++] = members.stream()
                    .sorted(Comparator.comparing((Integer rank) -> driverByRank.get(rank)).thenComparing(rank -> rank))
                    .mapToInt(Integer::intValue).toArray();
        }
        return new HostLayout(true, hosts, perHost, "hierarchical: " + hosts + " hosts x " + perHost + " ranks ("
                + (requested == AllReduceTopology.AUTO ? "chosen automatically" : "requested") + ")", rings);
    }

    private static String describeCounts(Map<String, List<Integer>> byHost) {
        StringBuilder text = new StringBuilder();
        byHost.forEach((host, members) -> text.append(text.isEmpty() ? "" : ", ").append(host).append(": ")
                .append(members.size()));
        return text.toString();
    }

    /** The ring of {@code rank}'s host. */
    int[] hostRing(int rank) {
        return hostRings[hostOf(rank)];
    }

    /** The ring of the ranks sharing {@code rank}'s local index, one per host. */
    int[] crossRing(int rank) {
        int index = indexOf(hostRing(rank), rank);
        int[] ring = new int[hosts];
        for (int h = 0; h < hosts; h++) {
            ring[h] = hostRings[h][index];
        }
        return ring;
    }

    private int hostOf(int rank) {
        for (int h = 0; h < hostRings.length; h++) {
            if (indexOf(hostRings[h], rank) >= 0) {
                return h;
            }
        }
        throw new IllegalArgumentException("rank " + rank + " is in no host ring");
    }

    static int indexOf(int[] values, int value) {
        for (int i = 0; i < values.length; i++) {
            if (values[i] == value) {
                return i;
            }
        }
        return -1;
    }

    /** Short form for logs and summaries: {@code hierarchical 2x2} or {@code flat}. */
    public String shape() {
        return hierarchical ? "hierarchical " + hosts + "x" + perHost : "flat";
    }
}
