package io.lockstep.worker.spark;

import io.lockstep.worker.comm.AllReduceTopology;
import io.lockstep.worker.comm.CollectiveConfig;
import io.lockstep.worker.comm.IdleMode;
import io.lockstep.worker.comm.TransportMode;
import io.lockstep.worker.comm.WireCompression;

import java.io.Serializable;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * The collective settings a training job chooses (the rest of {@link CollectiveConfig} is derived per
 * executor or kept at its default). Immutable and serializable: the driver sends it with every stage.
 *
 * @param gradientCompression narrowing of the gradients on the wire ({@code --wire-compression}); parameters,
 *                            updater state and BatchNorm statistics always travel exact
 * @param transport           {@code --transport}: AUTO (IPC between replicas of one executor, UDP otherwise)
 *                            or UDP everywhere
 * @param networkInterface    {@code --network-interface}: the name of the interface (e.g. {@code eth1}) whose
 *                            address each executor binds to, or {@code null} for the executor's host as Spark
 *                            knows it
 * @param mtuBytes            {@code --mtu}: UDP frame size (see {@link CollectiveConfig#mtuBytes()})
 * @param idleMode            {@code --idle-strategy}: how a replica's thread waits for the network
 * @param allReduceTopology   {@code --allreduce-topology}: flat ring, hierarchical (within hosts, then across),
 *                            or auto (hierarchical when the replicas span hosts with the same count each)
 * @param sharedMemory        {@code --shared-memory}: all-reduce through shared memory when every replica runs on
 *                            one host ({@link CollectiveConfig#sharedMemory()})
 */
public record CollectiveSettings(WireCompression gradientCompression, TransportMode transport, String networkInterface,
                                 int mtuBytes, IdleMode idleMode, AllReduceTopology allReduceTopology,
                                 boolean sharedMemory)
        implements Serializable {

    public CollectiveSettings {
        Objects.requireNonNull(gradientCompression, "gradientCompression");
        Objects.requireNonNull(transport, "transport");
        Objects.requireNonNull(idleMode, "idleMode");
        Objects.requireNonNull(allReduceTopology, "allReduceTopology");
        if (networkInterface != null && networkInterface.isBlank()) {
            networkInterface = null;
        }
        // Validates the MTU by the collective's own rules, so a bad value fails on the driver.
        CollectiveConfig.builder().mtuBytes(mtuBytes).build();
    }

    /** Settings with the all-reduce shape chosen automatically. */
    public CollectiveSettings(WireCompression gradientCompression, TransportMode transport, String networkInterface,
                              int mtuBytes, IdleMode idleMode) {
        this(gradientCompression, transport, networkInterface, mtuBytes, idleMode, AllReduceTopology.AUTO);
    }

    /** Settings with shared memory as the collective's default has it. */
    public CollectiveSettings(WireCompression gradientCompression, TransportMode transport, String networkInterface,
                              int mtuBytes, IdleMode idleMode, AllReduceTopology allReduceTopology) {
        this(gradientCompression, transport, networkInterface, mtuBytes, idleMode, allReduceTopology,
                CollectiveConfig.defaults().sharedMemory());
    }

    /** The collective's defaults: exact gradients, AUTO transport, the executor's host, its MTU and idle mode. */
    public static CollectiveSettings defaults() {
        CollectiveConfig d = CollectiveConfig.defaults();
        return new CollectiveSettings(WireCompression.NONE, d.transport(), null, d.mtuBytes(), d.idleMode(),
                d.allReduceTopology(), d.sharedMemory());
    }

    /**
     * {@code builder} with these settings applied, bound to {@link #networkInterface()}'s address on this
     * host or else to {@code executorHost}. Gradient compression is not a collective-wide setting: the
     * gradient exchange passes it per call.
     *
     * @throws IllegalStateException when this host has no usable interface of that name, listing the ones it has
     */
    public CollectiveConfig.Builder applyTo(CollectiveConfig.Builder builder, String executorHost) {
        return builder.transport(transport).mtuBytes(mtuBytes).idleMode(idleMode).allReduceTopology(allReduceTopology)
                .sharedMemory(sharedMemory).bindAddress(networkInterface == null ? executorHost : addressOf(networkInterface));
    }

    /** The address of interface {@code name} on this host: its first IPv4 address, else its first global IPv6 one. */
    static String addressOf(String name) {
        try {
            NetworkInterface nif = NetworkInterface.getByName(name);
            if (nif == null || !nif.isUp()) {
                throw new IllegalStateException("--network-interface " + name + ": host " + hostName() + " has no "
                        + (nif == null ? "" : "running ") + "interface of that name (it has " + interfaceNames()
                        + "); name an interface every executor host has, or leave the option unset to bind to each "
                        + "executor's host address");
            }
            InetAddress v6 = null;
            for (InetAddress address : Collections.list(nif.getInetAddresses())) {
                if (address instanceof Inet4Address) {
                    return address.getHostAddress();
                }
                if (v6 == null && !address.isLinkLocalAddress()) {
                    v6 = address;
                }
            }
            if (v6 == null) {
                throw new IllegalStateException("--network-interface " + name + ": the interface has no routable "
                        + "address on host " + hostName() + "; give it an address or name another interface");
            }
            String text = v6.getHostAddress();
            int scope = text.indexOf('%');
            return scope < 0 ? text : text.substring(0, scope);
        } catch (SocketException e) {
            throw new IllegalStateException("--network-interface " + name + ": cannot read the interfaces of host "
                    + hostName() + ": " + e.getMessage(), e);
        }
    }

    private static String interfaceNames() throws SocketException {
        List<String> names = new ArrayList<>();
        for (NetworkInterface nif : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (nif.isUp()) {
                names.add(nif.getName());
            }
        }
        Collections.sort(names);
        return String.join(", ", names);
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            return "(this host)";
        }
    }
}
