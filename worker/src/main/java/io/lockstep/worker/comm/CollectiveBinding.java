package io.lockstep.worker.comm;

import io.aeron.Aeron;
import io.aeron.ChannelUriStringBuilder;
import io.aeron.ExclusivePublication;
import io.aeron.Subscription;
import io.aeron.exceptions.AeronException;
import org.agrona.CloseHelper;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.NanoClock;
import org.agrona.concurrent.SleepingMillisIdleStrategy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedReader;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * First phase of opening a collective: this rank's media driver, Aeron client and UDP subscription
 * exist and are bound to this host on an ephemeral port, so {@link #localEndpoint()} can be published
 * to the other ranks. {@link #connect(List)} with every rank's endpoint completes the group.
 *
 * <p>Created by {@link AeronCollective#bind}. May be handed to another thread (with a happens-before
 * edge, e.g. an executor submission), but used by one thread at a time. If {@link #connect(List)} is
 * never called (or fails), {@link #close()} releases everything; after a successful connect the
 * collective owns the resources and closing the binding does nothing.
 */
public final class CollectiveBinding implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(CollectiveBinding.class);
    /** Control links carry 72-byte frames: the smallest term is plenty. */
    static final int CONTROL_TERM_LENGTH = 64 * 1024;
    private static final int CONTROL_MTU = 8 * 1024;
    private static final int AERON_DEFAULT_SOCKET_RCVBUF = 128 * 1024;
    /** Instance numbers need not be secret, only never repeat: a strong generator makes that certain. */
    private static final SecureRandom INSTANCES = new SecureRandom();

    private final CollectiveConfig config;
    private final GroupMember member;
    private final NanoClock clock;
    private final MediaDrivers.Handle driver;
    private final Aeron aeron;
    private final LinkIds ids;
    private final long jobHash;
    private final String host;
    private final long udpTag;
    /** UDP control subscriptions by peer rank, bound at bind time so the port is known. */
    private final Subscription[] udpControl;
    private final Endpoint local;
    /** This rank's shared-memory segment, created before the endpoints are exchanged so peers can open it. */
    private SharedMemorySegment ownSegment;
    private boolean handedOver;
    private boolean closed;

    private CollectiveBinding(CollectiveConfig config, GroupMember member, NanoClock clock, MediaDrivers.Handle driver,
                              Aeron aeron, String host) {
        this.config = config;
        this.member = member;
        this.clock = clock;
        this.driver = driver;
        this.aeron = aeron;
        this.host = host;
        this.jobHash = LinkIds.jobHash(member.jobId());
        this.ids = new LinkIds(member.jobSecret().idSeed(), jobHash, member.stageAttempt(), member.groupSize());
        this.udpControl = new Subscription[member.groupSize()];
        if (member.groupSize() > 1) {
            this.udpTag = aeron.nextCorrelationId();
            this.local = bindUdp();
        } else {
            this.udpTag = 0;
            this.local = new Endpoint(member.rank(), host, 0, driver.driverId(), INSTANCES.nextLong(), hostId());
        }
        if (config.sharedMemory() && config.transport() == TransportMode.AUTO && member.groupSize() > 1) {
            Path directory = Path.of(config.sharedMemoryDirectory());
            try {
                ownSegment = SharedMemorySegment.create(directory, jobHash, member.stageAttempt(), member.rank(),
                        local.instance());
            } catch (IOException | UnsupportedOperationException e) {
                LOG.info("{} cannot create a shared-memory segment in {} ({}): its all-reduces take the ring", member,
                        directory, e.toString());
            }
        }
    }

    static CollectiveBinding bind(CollectiveConfig config, GroupMember member, NanoClock clock) {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new UnsupportedOperationException("Lockstep collectives need a little-endian platform");
        }
        config.validate();
        String host = resolveHost(config.bindAddress());
        MediaDrivers.Handle driver = MediaDrivers.acquire(config);
        Aeron aeron = null;
        try {
            aeron = Aeron.connect(new Aeron.Context()
                    .aeronDirectoryName(driver.directory())
                    .driverTimeoutMs(MediaDrivers.STALL_TOLERANCE_MS)
                    .errorHandler(error -> LOG.error("Aeron client of {} reported an error", member, error))
                    .subscriberErrorHandler(error -> LOG.error("Aeron subscriber of {} failed", member, error)));
            return new CollectiveBinding(config, member, clock, driver, aeron, host);
        } catch (RuntimeException e) {
            CloseHelper.quietClose(aeron);
            driver.close();
            throw e instanceof CollectiveException ce ? ce
                    : new CollectiveException("cannot bind " + member + " on " + host + ": " + e.getMessage(), e);
        }
    }

    /** This rank's endpoint, to publish to every other rank. */
    public Endpoint localEndpoint() {
        return local;
    }

    public GroupMember member() {
        return member;
    }

    /**
     * Completes the group: creates the links to every peer and waits until all are connected, bounded
     * by {@link CollectiveConfig#connectTimeoutMs()}.
     *
     * @param endpoints every rank's endpoint (this rank's included), in any order
     * @throws IllegalArgumentException   when the list is not one endpoint per rank or misses this one
     * @throws CollectiveTimeoutException naming the ranks that did not connect in time
     */
    public AeronCollective connect(List<Endpoint> endpoints) {
        if (handedOver || closed) {
            throw new IllegalStateException("this binding was already connected or closed; bind again");
        }
        List<Endpoint> byRank = checkEndpoints(endpoints);
        Links links = null;
        try {
            HostLayout layout = HostLayout.of(config.allReduceTopology(), byRank);
            links = createLinks(byRank, layout);
            openSharedMemory(links, byRank);
            awaitConnected(links, byRank);
            AeronCollective collective = new AeronCollective(config, member, byRank, links, clock, aeron, driver,
                    jobHash);
            handedOver = true;
            return collective;
        } catch (RuntimeException e) {
            if (links != null && links.sharedSegments != null) {
                for (SharedMemorySegment segment : links.sharedSegments) {
                    if (segment != null && segment != ownSegment) {
                        segment.close();
                    }
                }
            }
            close();
            throw e;
        }
    }

    /**
     * When every rank runs on this host, maps every peer's segment for the shared-memory all-reduce; otherwise
     * drops this rank's own. Every rank decides alike from the same endpoints; a same-host peer whose segment
     * cannot be opened (another machine behind the same host id, a container with its own /dev/shm, a peer with
     * shared memory off) fails the connect, naming it, rather than let ranks disagree on the algorithm.
     */
    private void openSharedMemory(Links links, List<Endpoint> byRank) {
        if (ownSegment == null) {
            return;
        }
        if (links.layout.hierarchical() || links.layout.hosts() != 1) {
            ownSegment.close();
            ownSegment = null;
            return;
        }
        int size = member.groupSize();
        SharedMemorySegment[] segments = new SharedMemorySegment[size];
        links.sharedSegments = segments;
        segments[member.rank()] = ownSegment;
        Path directory = Path.of(config.sharedMemoryDirectory());
        for (int peer = 0; peer < size; peer++) {
            if (peer == member.rank()) {
                continue;
            }
            try {
                segments[peer] = SharedMemorySegment.openPeer(directory, jobHash, member.stageAttempt(), byRank.get(peer),
                        ownSegment.fileOwner());
            } catch (IOException e) {
                throw new CollectiveException(member + " cannot share memory with rank " + peer + ", which runs on the "
                        + "same host (" + byRank.get(peer).hostId() + "): " + e.getMessage() + ". Every rank of a host "
                        + "must see the same " + directory + " and use the same sharedMemory setting; turn shared memory "
                        + "off (sharedMemory false) where they cannot", e);
            }
        }
        int[] order = new int[size];
        for (int i = 0; i < size; i++) {
            order[i] = i;
        }
        links.sharedRing = new RingLinks(Wire.LINK_DATA, "shared memory", order, member.rank(), member.rank(),
                member.rank());
    }

    /** Releases the subscriptions, the Aeron client and the driver claim, unless a collective owns them. */
    @Override
    public void close() {
        if (handedOver || closed) {
            return;
        }
        closed = true;
        if (ownSegment != null) {
            ownSegment.close();
        }
        CloseHelper.closeAll(aeron, driver);
    }

    private Endpoint bindUdp() {
        int rank = member.rank();
        Subscription first = null;
        for (int peer = 0; peer < member.groupSize(); peer++) {
            if (peer == rank) {
                continue;
            }
            ChannelUriStringBuilder uri = new ChannelUriStringBuilder().media("udp")
                    .tags(Long.toString(udpTag))
                    .sessionId(ids.sessionId(Wire.LINK_CONTROL, peer, rank))
                    .socketRcvbufLength(positiveOrNull(config.socketReceiveBufferBytes()));
            if (first == null) {
                uri.endpoint(uriHost(host) + ":0");
            }
            udpControl[peer] = addSubscription(uri.build(), ids.streamId(Wire.LINK_CONTROL, rank), "bind to " + host);
            if (first == null) {
                first = udpControl[peer];
            }
        }
        int port = awaitBoundPort(first);
        return new Endpoint(rank, host, port, driver.driverId(), INSTANCES.nextLong(), hostId());
    }

    private String hostId() {
        return config.hostId() != null ? config.hostId().trim() : host;
    }

    private int awaitBoundPort(Subscription subscription) {
        long deadline = clock.nanoTime() + TimeUnit.MILLISECONDS.toNanos(config.connectTimeoutMs());
        IdleStrategy idle = new SleepingMillisIdleStrategy(1);
        while (true) {
            List<String> addresses = subscription.localSocketAddresses();
            if (!addresses.isEmpty()) {
                String address = addresses.get(0);
                return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
            }
            if (Thread.currentThread().isInterrupted()) {
                throw interrupted("binding a UDP port on " + host);
            }
            if (clock.nanoTime() - deadline >= 0) {
                throw new CollectiveTimeoutException(member + " could not bind a UDP port on " + host + " within "
                        + config.connectTimeoutMs() + " ms (channel " + subscription.channel() + ")", List.of());
            }
            idle.idle();
        }
    }

    private List<Endpoint> checkEndpoints(List<Endpoint> endpoints) {
        int size = member.groupSize();
        if (endpoints == null || endpoints.size() != size) {
            throw new IllegalArgumentException("expected " + size + " endpoints (one per rank), got "
                    + (endpoints == null ? "none" : endpoints.size() + ": " + endpoints));
        }
        Endpoint[] byRank = new Endpoint[size];
        for (Endpoint endpoint : endpoints) {
            if (endpoint.rank() >= size) {
                throw new IllegalArgumentException(endpoint + " is outside a group of " + size);
            }
            if (byRank[endpoint.rank()] != null) {
                throw new IllegalArgumentException("two endpoints for rank " + endpoint.rank() + ": "
                        + byRank[endpoint.rank()] + " and " + endpoint);
            }
            byRank[endpoint.rank()] = endpoint;
        }
        if (!byRank[member.rank()].equals(local)) {
            throw new IllegalArgumentException("the endpoint list says this rank is " + byRank[member.rank()]
                    + " but it is bound as " + local + ": the list comes from another group or attempt");
        }
        return List.of(byRank);
    }

    /** Ring order: ranks sorted by host and driver so co-located ranks are neighbours (IPC links). */
    static int[] ringOrder(List<Endpoint> byRank) {
        return byRank.stream()
                .sorted(Comparator.comparing(Endpoint::hostId).thenComparing(Endpoint::host).thenComparing(Endpoint::driverId)
                        .thenComparingInt(Endpoint::rank))
                .mapToInt(Endpoint::rank)
                .toArray();
    }

    private boolean useIpc(Endpoint peer) {
        return config.transport() == TransportMode.AUTO && peer.driverId().equals(local.driverId());
    }

    private Links createLinks(List<Endpoint> byRank, HostLayout layout) {
        int size = member.groupSize();
        int rank = member.rank();
        Links links = new Links(size, layout);
        if (size == 1) {
            return links;
        }
        for (int peer = 0; peer < size; peer++) {
            if (peer == rank) {
                continue;
            }
            Endpoint endpoint = byRank.get(peer);
            boolean ipc = useIpc(endpoint);
            links.ipc[peer] = ipc;
            links.descriptions[peer] = "rank " + peer + " (" + (ipc ? "IPC" : "UDP " + endpoint.socketAddress()) + ")";
            if (ipc) {
                udpControl[peer].close();
                udpControl[peer] = null;
                links.controlSubscriptions[peer] = addSubscription(ipcUri(ids.sessionId(Wire.LINK_CONTROL, peer, rank))
                        .build(), ids.streamId(Wire.LINK_CONTROL, rank), "control link from " + links.descriptions[peer]);
            } else {
                links.controlSubscriptions[peer] = udpControl[peer];
            }
            links.controlPublications[peer] = addPublication(peer, endpoint, ipc, Wire.LINK_CONTROL,
                    CONTROL_TERM_LENGTH, ipc ? CONTROL_MTU : Math.min(CONTROL_MTU, config.mtuBytes()),
                    "control link to " + links.descriptions[peer]);
        }
        links.flat = createRing(Wire.LINK_DATA, "ring", ringOrder(byRank), links, byRank);
        if (layout.hierarchical()) {
            links.host = createRing(Wire.LINK_HOST_RING, "host ring", layout.hostRing(rank), links, byRank);
            links.cross = createRing(Wire.LINK_CROSS_RING, "cross-host ring", layout.crossRing(rank), links, byRank);
        }
        return links;
    }

    /** The data link of one ring through this rank: a subscription from its predecessor, a publication to its successor. */
    private RingLinks createRing(int link, String name, int[] order, Links links, List<Endpoint> byRank) {
        int rank = member.rank();
        int position = indexOf(order, rank);
        int predecessor = order[(position - 1 + order.length) % order.length];
        int successor = order[(position + 1) % order.length];
        RingLinks ring = new RingLinks(link, name, order, position, predecessor, successor);
        int window = links.ipc[predecessor] ? 0 : effectiveReceiverWindow();
        int dataSession = ids.sessionId(link, predecessor, rank);
        String dataChannel = links.ipc[predecessor] ? ipcUri(dataSession).build()
                : new ChannelUriStringBuilder().media("udp").tags(Long.toString(udpTag)).sessionId(dataSession)
                .receiverWindowLength(positiveOrNull(window))
                .socketRcvbufLength(positiveOrNull(config.socketReceiveBufferBytes()))
                .build();
        ring.subscription = addSubscription(dataChannel, ids.streamId(link, rank),
                name + " link from " + links.descriptions[predecessor]);
        boolean ipcToSuccessor = links.ipc[successor];
        ring.publication = addPublication(successor, byRank.get(successor), ipcToSuccessor, link,
                config.termLengthBytes(),
                ipcToSuccessor ? Math.min(CollectiveConfig.MAX_MTU_BYTES, config.termLengthBytes() / 8) : config.mtuBytes(),
                name + " link to " + links.descriptions[successor]);
        return ring;
    }

    private ExclusivePublication addPublication(int peer, Endpoint endpoint, boolean ipc, int link, int termLength,
                                                int mtu, String what) {
        int session = ids.sessionId(link, member.rank(), peer);
        ChannelUriStringBuilder uri = ipc ? ipcUri(session)
                : new ChannelUriStringBuilder().media("udp").endpoint(endpoint.socketAddress())
                .networkInterface(uriHost(host)).sessionId(session)
                .socketSndbufLength(positiveOrNull(config.socketSendBufferBytes()));
        String channel = uri.termLength(termLength).mtu(mtu).sparse(Boolean.TRUE).build();
        try {
            return aeron.addExclusivePublication(channel, ids.streamId(link, peer));
        } catch (AeronException e) {
            throw new CollectiveException(member + " cannot open the " + what + " (" + channel + "): " + e.getMessage()
                    + hint(), e);
        }
    }

    private Subscription addSubscription(String channel, int streamId, String what) {
        try {
            return aeron.addSubscription(channel, streamId);
        } catch (AeronException e) {
            throw new CollectiveException(member + " cannot open the " + what + " (" + channel + "): " + e.getMessage()
                    + hint(), e);
        }
    }

    private String hint() {
        return "; check bindAddress (" + host + ") is an address of this host, the socket buffer and window sizes "
                + "against net.core.rmem_max/wmem_max, and that driverDirectoryRoot (" + config.driverDirectoryRoot()
                + ") has free space";
    }

    private static ChannelUriStringBuilder ipcUri(int session) {
        return new ChannelUriStringBuilder().media("ipc").sessionId(session);
    }

    private void awaitConnected(Links links, List<Endpoint> byRank) {
        if (member.groupSize() == 1) {
            return;
        }
        long start = clock.nanoTime();
        long deadline = start + TimeUnit.MILLISECONDS.toNanos(config.connectTimeoutMs());
        IdleStrategy idle = new SleepingMillisIdleStrategy(1);
        while (true) {
            List<String> missing = new ArrayList<>();
            List<Integer> silent = new ArrayList<>();
            for (int peer = 0; peer < member.groupSize(); peer++) {
                if (peer == member.rank()) {
                    continue;
                }
                List<String> problems = new ArrayList<>(3);
                if (!links.controlPublications[peer].isConnected()) {
                    problems.add("its control subscription does not answer");
                }
                if (links.controlSubscriptions[peer].imageCount() == 0) {
                    problems.add("no control stream from it");
                }
                for (RingLinks ring : links.rings()) {
                    if (peer == ring.successor && !ring.publication.isConnected()) {
                        problems.add("its " + ring.name + " subscription does not answer");
                    }
                    if (peer == ring.predecessor && ring.subscription.imageCount() == 0) {
                        problems.add("no " + ring.name + " stream from it");
                    }
                }
                if (!problems.isEmpty()) {
                    silent.add(peer);
                    missing.add(links.descriptions[peer] + ": " + String.join(", ", problems));
                }
            }
            if (Thread.currentThread().isInterrupted()) {
                throw interrupted("connecting to ranks " + silent);
            }
            if (silent.isEmpty()) {
                LOG.info("{} connected in {} ms; ring {}, predecessor {}, successor {}; all-reduce {}{}{}", member,
                        TimeUnit.NANOSECONDS.toMillis(clock.nanoTime() - start), Arrays.toString(links.flat.order),
                        links.descriptions[links.flat.predecessor], links.descriptions[links.flat.successor],
                        links.layout.reason(), links.host == null ? "" : "; host ring " + Arrays.toString(links.host.order)
                                + ", cross-host ring " + Arrays.toString(links.cross.order),
                        links.sharedSegments == null ? "" : "; float and double all-reduces through shared memory in "
                                + config.sharedMemoryDirectory());
                return;
            }
            if (clock.nanoTime() - deadline >= 0) {
                throw new CollectiveTimeoutException(member + " could not connect to ranks " + silent + " within "
                        + config.connectTimeoutMs() + " ms: " + String.join("; ", missing) + ". Endpoints: " + byRank
                        + ". Check that those ranks started and reached connect, that they use the same job id, "
                        + "secret and stage attempt, and that " + host + " and their addresses are reachable "
                        + "(firewall, bindAddress)", silent);
            }
            idle.idle();
        }
    }

    private CollectiveException interrupted(String what) {
        return new CollectiveException(member + " was interrupted while " + what + " (task cancelled?)");
    }

    /** The configured receiver window, lowered to what the kernel's socket buffer limit allows. */
    private int effectiveReceiverWindow() {
        int window = config.receiverWindowBytes();
        if (window == 0) {
            return 0;
        }
        long requested = config.socketReceiveBufferBytes() > 0 ? config.socketReceiveBufferBytes()
                : AERON_DEFAULT_SOCKET_RCVBUF;
        long kernelMax = readLinuxLimit("/proc/sys/net/core/rmem_max");
        long buffer = kernelMax > 0 ? Math.min(requested, kernelMax) : requested;
        if (window > buffer) {
            LOG.warn("receiverWindowBytes {} exceeds the socket receive buffer the kernel grants ({} bytes; "
                    + "net.core.rmem_max={}); using {} bytes. Raise net.core.rmem_max (sysctl) and "
                    + "socketReceiveBufferBytes for full UDP throughput", window, buffer, kernelMax, buffer);
            return (int) buffer;
        }
        return window;
    }

    /** Reads a number from a /proc file; -1 where there is none. (Files.readString trusts /proc's size.) */
    private static long readLinuxLimit(String file) {
        try (BufferedReader reader = Files.newBufferedReader(Path.of(file))) {
            String line = reader.readLine();
            return line == null ? -1 : Long.parseLong(line.trim());
        } catch (IOException | NumberFormatException | SecurityException e) {
            return -1;
        }
    }

    private static String resolveHost(String configured) {
        InetAddress address;
        try {
            address = configured == null ? InetAddress.getLocalHost() : InetAddress.getByName(configured.trim());
        } catch (UnknownHostException e) {
            throw new CollectiveException("cannot resolve bindAddress " + (configured == null ? "(local host name)"
                    : configured) + ": " + e.getMessage() + "; set bindAddress to this host's IP address", e);
        }
        if (address.isAnyLocalAddress()) {
            throw new CollectiveException("bindAddress " + configured + " resolves to the wildcard address "
                    + address.getHostAddress() + "; give the address of the interface peers reach this host on");
        }
        if (configured == null && address.isLoopbackAddress()) {
            LOG.warn("The local host name resolves to the loopback address {}: ranks on other hosts cannot reach "
                    + "this one. Set bindAddress to this host's network address for multi-host groups",
                    address.getHostAddress());
        }
        String text = address.getHostAddress();
        return address instanceof Inet6Address && text.indexOf('%') >= 0 ? text.substring(0, text.indexOf('%')) : text;
    }

    private static String uriHost(String host) {
        return host.indexOf(':') >= 0 ? "[" + host + "]" : host;
    }

    private static Integer positiveOrNull(int value) {
        return value > 0 ? value : null;
    }

    private static int indexOf(int[] values, int value) {
        for (int i = 0; i < values.length; i++) {
            if (values[i] == value) {
                return i;
            }
        }
        throw new IllegalStateException(value + " not in " + Arrays.toString(values));
    }

    /** The links of a connected rank, handed to the collective. */
    static final class Links {
        final HostLayout layout;
        final boolean[] ipc;
        final String[] descriptions;
        final Subscription[] controlSubscriptions;
        final ExclusivePublication[] controlPublications;
        /** The ring over all ranks; for a group of one, a ring without links. */
        RingLinks flat;
        /** Hierarchical all-reduce only: the ring of this rank's host and the ring across hosts. */
        RingLinks host;
        RingLinks cross;
        /** Shared-memory all-reduce only (else null): every rank's segment by rank, and a ring without links. */
        SharedMemorySegment[] sharedSegments;
        RingLinks sharedRing;

        Links(int size, HostLayout layout) {
            this.layout = layout;
            ipc = new boolean[size];
            descriptions = new String[size];
            controlSubscriptions = new Subscription[size];
            controlPublications = new ExclusivePublication[size];
            flat = new RingLinks(Wire.LINK_DATA, "ring", new int[]{0}, 0, 0, 0);
        }

        List<RingLinks> rings() {
            return host == null ? List.of(flat) : List.of(flat, host, cross);
        }
    }

    /** One ring's data link through this rank. */
    static final class RingLinks {
        final int link;
        final String name;
        final int[] order;
        final int position;
        final int predecessor;
        final int successor;
        Subscription subscription;
        ExclusivePublication publication;

        RingLinks(int link, String name, int[] order, int position, int predecessor, int successor) {
            this.link = link;
            this.name = name;
            this.order = order;
            this.position = position;
            this.predecessor = predecessor;
            this.successor = successor;
        }
    }
}
