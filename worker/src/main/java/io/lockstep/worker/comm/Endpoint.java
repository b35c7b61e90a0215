package io.lockstep.worker.comm;

import java.io.Serializable;
import java.util.Objects;

/**
 * Where one rank of a group receives: the UDP address its subscription is bound to, plus the id of
 * the media driver it runs on (ranks of the same driver talk over IPC).
 *
 * <p>Produced by {@link CollectiveBinding#localEndpoint()}, exchanged among all ranks (in Spark, one
 * {@code BarrierTaskContext.allGather} of {@link #encode()} strings), and handed to
 * {@link CollectiveBinding#connect(java.util.List)}. Immutable.
 *
 * @param rank     the rank this endpoint belongs to
 * @param host     IP address the rank's subscription is bound to (never a wildcard)
 * @param port     UDP port the subscription is bound to; 0 for a group of one
 * @param driverId id of the rank's media driver, unique per driver instance
 * @param instance random number of this binding (not secret): the frame keys of a collective derive
 *                 from its members' instances, so two collectives never share a key
 * @param hostId   which machine the rank runs on, for the all-reduce's shape ({@link HostLayout}): its
 *                 {@code host} address unless {@link CollectiveConfig#hostId()} names it otherwise
 */
public record Endpoint(int rank, String host, int port, String driverId, long instance, String hostId)
        implements Serializable {
    private static final String SEPARATOR = "|";

    public Endpoint {
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(driverId, "driverId");
        Objects.requireNonNull(hostId, "hostId");
        if (rank < 0) {
            throw new IllegalArgumentException("rank must not be negative, was " + rank);
        }
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException("port must be in [0, 65535], was " + port);
        }
        if (host.isBlank() || host.contains(SEPARATOR) || driverId.isBlank() || driverId.contains(SEPARATOR)) {
            throw new IllegalArgumentException("host and driverId must be non-blank and free of '" + SEPARATOR
                    + "': host=" + host + " driverId=" + driverId);
        }
        if (hostId.isBlank() || hostId.contains(SEPARATOR)) {
            throw new IllegalArgumentException("hostId must be non-blank and free of '" + SEPARATOR + "': " + hostId);
        }
    }

    /** An endpoint whose host is identified by its address. */
    public Endpoint(int rank, String host, int port, String driverId, long instance) {
        this(rank, host, port, driverId, instance, host);
    }

    /**
     * A single-line text form, e.g. {@code 2|10.0.0.7|40123|a1b2c3d4e5f60718|-4711}, followed by
     * {@code |hostId} when that is not the address; see {@link #decode(String)}.
     */
    public String encode() {
        String text = rank + SEPARATOR + host + SEPARATOR + port + SEPARATOR + driverId + SEPARATOR + instance;
        return hostId.equals(host) ? text : text + SEPARATOR + hostId;
    }

    /**
     * Parses {@link #encode()}'s form.
     *
     * @throws IllegalArgumentException naming the malformed text
     */
    public static Endpoint decode(String text) {
        Objects.requireNonNull(text, "text");
        String[] parts = text.split("\\|", -1);
        if (parts.length != 5 && parts.length != 6) {
            throw new IllegalArgumentException("not an endpoint (expected rank|host|port|driverId|instance[|hostId]): '"
                    + text + "'");
        }
        try {
            return new Endpoint(Integer.parseInt(parts[0]), parts[1], Integer.parseInt(parts[2]), parts[3],
                    Long.parseLong(parts[4]), parts.length == 6 ? parts[5] : parts[1]);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not an endpoint (rank, port and instance must be integers): '" + text
                    + "'", e);
        }
    }

    /** {@code host:port}, with brackets around IPv6 addresses, as Aeron channel URIs want it. */
    String socketAddress() {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }

    @Override
    public String toString() {
        return "rank " + rank + " at " + socketAddress() + " (driver " + driverId
                + (hostId.equals(host) ? "" : ", host " + hostId) + ")";
    }
}
