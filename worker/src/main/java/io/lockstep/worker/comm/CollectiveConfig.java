package io.lockstep.worker.comm;

import io.aeron.driver.ThreadingMode;
import io.aeron.protocol.DataHeaderFlyweight;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Every setting of the Aeron collectives, validated in one place: an instance that exists is valid
 * ({@link #validate()} runs in the constructor and reports every problem in one message).
 *
 * <p>Immutable and serializable, so it can travel inside a Spark task closure. Build one with
 * {@link #builder()}; {@link #defaults()} suits a Spark cluster on an ordinary LAN.
 *
 * <p>Settings split in two: <b>driver settings</b> ({@link #driverDirectoryRoot()},
 * {@link #driverThreading()}, {@link #driverIdleMode()}) configure the one media driver a JVM shares,
 * and every rank of a JVM must agree on them (see {@link MediaDrivers}); all other settings are per
 * collective. Every rank of a group must use the same {@link #mtuBytes()}, {@link #chunkBytes()}
 * {@link #wireCompression()} and {@link #wireSecurity()}.
 *
 * @param bindAddress             IP address or host name of this host that peers can reach; the
 *                                subscription binds to it (never to a wildcard address). {@code null}
 *                                picks the address of {@link java.net.InetAddress#getLocalHost()},
 *                                which is right on most clusters; inside Spark pass the executor's
 *                                host.
 * @param transport               IPC between ranks of one driver, or UDP everywhere
 * @param driverDirectoryRoot     local directory under which the media driver creates its own
 *                                uniquely named directory (deleted when the last rank of the JVM
 *                                closes). Must have room for the log buffers (sparse files): about
 *                                {@code 6 × termLengthBytes} per rank (its ring publication and the
 *                                image of its predecessor's) plus 384 KiB per peer (control links), so
 *                                prefer a local disk or a tmpfs that is large enough (a container's
 *                                64 MB {@code /dev/shm} is not)
 * @param driverThreading         Aeron threading mode of the shared media driver
 * @param idleMode                how a rank's thread waits inside an operation
 * @param driverIdleMode          how the media driver's threads wait (default {@link IdleMode#LONG_BACKOFF})
 * @param connectTimeoutMs        deadline for all peers to connect after the endpoint list is known
 * @param operationTimeoutMs      deadline of every collective operation (all-reduce, broadcast, …)
 * @param heartbeatIntervalMs     how often a rank waiting inside an operation tells its peers it is
 *                                alive; a peer not heard from for four intervals is reported silent
 * @param closeLingerMs           how long {@link AeronCollective#close()} waits for peers to confirm
 *                                they received this rank's last messages
 * @param mtuBytes                UDP frame size: a multiple of 32 in [256, 65504]. Above the network's
 *                                MTU (1500 on most Ethernet) the kernel fragments datagrams, which
 *                                works on a healthy LAN and loopback; set 1408 where fragments are
 *                                dropped
 * @param termLengthBytes         Aeron term length of the ring links (power of two, 64 KiB .. 1 GiB);
 *                                bounds the largest message to a term / 8
 * @param chunkBytes              payload bytes per ring message (multiple of 8): the pipelining unit
 *                                of all-reduce, all-gather and broadcast. The default fills one 64 KiB
 *                                frame, so IPC frames are written in place; over UDP frames larger than
 *                                the MTU are fragmented by Aeron
 * @param socketSendBufferBytes   SO_SNDBUF of UDP sockets, 0 for the OS default
 * @param socketReceiveBufferBytes SO_RCVBUF of UDP sockets, 0 for the OS default; the kernel caps it
 *                                at {@code net.core.rmem_max}
 * @param receiverWindowBytes     Aeron receiver window of the ring links (bytes in flight per link),
 *                                0 for Aeron's default; at most the socket receive buffer
 * @param wireCompression         narrowing on the wire of float all-reduces that do not name their own
 *                                compression; training keeps it NONE and narrows only gradients, per call
 * @param wireSecurity            protection of every frame: authenticated (the default), authenticated
 *                                and encrypted, or off; every rank of a group must agree
 * @param allReduceTopology       flat ring, hierarchical (within hosts, then across), or chosen from where
 *                                the ranks run ({@link HostLayout}); every rank of a group must agree
 * @param hostId                  which machine this rank runs on, for the all-reduce's shape; {@code null}
 *                                (the default) means the bound address, right wherever each machine has
 *                                one address. Set it where that is not so, e.g. to tell apart simulated
 *                                hosts that share one machine's loopback address in tests
 * @param sharedMemory            when every rank of the group runs on one host, float and double all-reduces
 *                                go through shared memory ({@link SharedMemoryAllReduce}: each rank sums its
 *                                shard straight out of its peers' segments, one step instead of the ring's
 *                                2(N−1)) rather than the ring; off keeps the ring. Ignored when
 *                                {@link #transport()} is UDP. Every rank of a group must agree
 * @param sharedMemoryDirectory   where the ranks of a host create their shared-memory segments (one file per
 *                                rank, owner-only, deleted at close); must be the same directory, on a
 *                                memory-backed file system, for every rank of the host: {@code /dev/shm} on
 *                                Linux. Needs room for about the largest all-reduce per rank
 */
public record CollectiveConfig(
        String bindAddress,
        TransportMode transport,
        String driverDirectoryRoot,
        ThreadingMode driverThreading,
        IdleMode idleMode,
        IdleMode driverIdleMode,
        long connectTimeoutMs,
        long operationTimeoutMs,
        long heartbeatIntervalMs,
        long closeLingerMs,
        int mtuBytes,
        int termLengthBytes,
        int chunkBytes,
        int socketSendBufferBytes,
        int socketReceiveBufferBytes,
        int receiverWindowBytes,
        WireCompression wireCompression,
        WireSecurity wireSecurity,
        AllReduceTopology allReduceTopology,
        String hostId,
        boolean sharedMemory,
        String sharedMemoryDirectory) implements Serializable {

    /** Aeron's largest UDP frame. */
    public static final int MAX_MTU_BYTES = 65_504;
    /**
     * Default chunk: the payload that fills one 64 KiB Aeron frame (Aeron's header 32 B, ours 72 B, and
     * room for the 16-byte authentication tag, reserved whatever the {@link #wireSecurity()}).
     */
    public static final int DEFAULT_CHUNK_BYTES = MAX_MTU_BYTES - DataHeaderFlyweight.HEADER_LENGTH - FrameHeader.LENGTH
            - FrameSeal.TAG_LENGTH;
    /** Linux's memory-backed file system, present on every distribution (a tmpfs). */
    public static final String DEFAULT_SHARED_MEMORY_DIRECTORY = "/dev/shm";
    private static final int MIN_MTU_BYTES = 256;
    private static final int MIN_TERM_LENGTH_BYTES = 64 * 1024;
    private static final int MAX_TERM_LENGTH_BYTES = 1024 * 1024 * 1024;
    private static final int MIN_CHUNK_BYTES = 64;
    /** A peer is reported silent after this many heartbeat intervals without a word. */
    static final int SILENT_AFTER_HEARTBEATS = 4;

    public CollectiveConfig {
        validate(bindAddress, transport, driverDirectoryRoot, driverThreading, idleMode, driverIdleMode,
                connectTimeoutMs, operationTimeoutMs, heartbeatIntervalMs, closeLingerMs, mtuBytes,
                termLengthBytes, chunkBytes, socketSendBufferBytes, socketReceiveBufferBytes,
                receiverWindowBytes, wireCompression, wireSecurity, allReduceTopology, hostId, sharedMemoryDirectory);
    }

    /** The defaults, for a Spark cluster on an ordinary LAN. */
    public static CollectiveConfig defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this configuration. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** Re-checks every rule; the constructor already did, so this only throws for a deserialized copy. */
    public CollectiveConfig validate() {
        validate(bindAddress, transport, driverDirectoryRoot, driverThreading, idleMode, driverIdleMode,
                connectTimeoutMs, operationTimeoutMs, heartbeatIntervalMs, closeLingerMs, mtuBytes,
                termLengthBytes, chunkBytes, socketSendBufferBytes, socketReceiveBufferBytes,
                receiverWindowBytes, wireCompression, wireSecurity, allReduceTopology, hostId, sharedMemoryDirectory);
        return this;
    }

    /** Largest Aeron message on a ring link (Aeron allows a term / 8). */
    int maxMessageBytes() {
        return termLengthBytes / 8;
    }

    private static void validate(String bindAddress, TransportMode transport, String driverDirectoryRoot,
                                 ThreadingMode driverThreading, IdleMode idleMode, IdleMode driverIdleMode,
                                 long connectTimeoutMs, long operationTimeoutMs, long heartbeatIntervalMs,
                                 long closeLingerMs, int mtuBytes, int termLengthBytes, int chunkBytes,
                                 int socketSendBufferBytes, int socketReceiveBufferBytes,
                                 int receiverWindowBytes, WireCompression wireCompression,
                                 WireSecurity wireSecurity, AllReduceTopology allReduceTopology,
                                 String hostId, String sharedMemoryDirectory) {
        List<String> errors = new ArrayList<>();
        if (bindAddress != null) {
            String trimmed = bindAddress.trim();
            if (trimmed.isEmpty()) {
                errors.add("bindAddress is blank: give this host's address or leave it unset to use the local host");
            } else if (trimmed.equals("0.0.0.0") || trimmed.equals("::") || trimmed.equals("[::]")
                    || trimmed.equals("0:0:0:0:0:0:0:0")) {
                errors.add("bindAddress " + trimmed + " is a wildcard address: collectives never listen on all "
                        + "interfaces; give the address of the interface peers reach this host on");
            }
        }
        if (transport == null) {
            errors.add("transport is missing (AUTO or UDP)");
        }
        if (driverDirectoryRoot == null || driverDirectoryRoot.isBlank()) {
            errors.add("driverDirectoryRoot is missing: give a local directory for the media driver's files");
        }
        if (driverThreading == null || driverThreading == ThreadingMode.INVOKER) {
            errors.add("driverThreading must be SHARED, SHARED_NETWORK or DEDICATED, was " + driverThreading);
        }
        if (idleMode == null) {
            errors.add("idleMode is missing");
        }
        if (driverIdleMode == null) {
            errors.add("driverIdleMode is missing");
        }
        if (connectTimeoutMs <= 0) {
            errors.add("connectTimeoutMs must be positive, was " + connectTimeoutMs);
        }
        if (operationTimeoutMs <= 0) {
            errors.add("operationTimeoutMs must be positive, was " + operationTimeoutMs);
        }
        if (heartbeatIntervalMs <= 0) {
            errors.add("heartbeatIntervalMs must be positive, was " + heartbeatIntervalMs);
        } else if (operationTimeoutMs > 0 && heartbeatIntervalMs * SILENT_AFTER_HEARTBEATS > operationTimeoutMs) {
            errors.add("heartbeatIntervalMs " + heartbeatIntervalMs + " is too long for operationTimeoutMs "
                    + operationTimeoutMs + ": silent peers are recognised after " + SILENT_AFTER_HEARTBEATS
                    + " heartbeats, so use at most operationTimeoutMs / " + SILENT_AFTER_HEARTBEATS);
        }
        if (closeLingerMs < 0) {
            errors.add("closeLingerMs must not be negative, was " + closeLingerMs);
        }
        if (mtuBytes < MIN_MTU_BYTES || mtuBytes > MAX_MTU_BYTES || mtuBytes % 32 != 0) {
            errors.add("mtuBytes must be a multiple of 32 in [" + MIN_MTU_BYTES + ", " + MAX_MTU_BYTES + "], was "
                    + mtuBytes + " (1408 fits a 1500-byte Ethernet frame)");
        }
        boolean termValid = termLengthBytes >= MIN_TERM_LENGTH_BYTES && termLengthBytes <= MAX_TERM_LENGTH_BYTES
                && Integer.bitCount(termLengthBytes) == 1;
        if (!termValid) {
            errors.add("termLengthBytes must be a power of two in [64 KiB, 1 GiB], was " + termLengthBytes);
        }
        if (chunkBytes < MIN_CHUNK_BYTES || chunkBytes % 8 != 0) {
            errors.add("chunkBytes must be a multiple of 8 and at least " + MIN_CHUNK_BYTES + ", was " + chunkBytes);
        } else if (termValid && chunkBytes + FrameHeader.LENGTH + FrameSeal.TAG_LENGTH > termLengthBytes / 8) {
            errors.add("chunkBytes " + chunkBytes + " plus the " + FrameHeader.LENGTH + "-byte header and "
                    + FrameSeal.TAG_LENGTH + "-byte tag exceeds "
                    + "Aeron's largest message for termLengthBytes " + termLengthBytes + " (a term / 8 = "
                    + termLengthBytes / 8 + "): lower chunkBytes or raise termLengthBytes");
        }
        if (termValid && mtuBytes > termLengthBytes / 8) {
            errors.add("mtuBytes " + mtuBytes + " exceeds a term / 8 (" + termLengthBytes / 8 + ")");
        }
        if (socketSendBufferBytes < 0) {
            errors.add("socketSendBufferBytes must not be negative (0 = OS default), was " + socketSendBufferBytes);
        } else if (socketSendBufferBytes > 0 && socketSendBufferBytes < mtuBytes) {
            errors.add("socketSendBufferBytes " + socketSendBufferBytes + " is smaller than mtuBytes " + mtuBytes
                    + ": a frame must fit the socket buffer");
        }
        if (socketReceiveBufferBytes < 0) {
            errors.add("socketReceiveBufferBytes must not be negative (0 = OS default), was "
                    + socketReceiveBufferBytes);
        }
        if (receiverWindowBytes < 0) {
            errors.add("receiverWindowBytes must not be negative (0 = Aeron default), was " + receiverWindowBytes);
        } else if (receiverWindowBytes > 0 && socketReceiveBufferBytes > 0
                && receiverWindowBytes > socketReceiveBufferBytes) {
            errors.add("receiverWindowBytes " + receiverWindowBytes + " exceeds socketReceiveBufferBytes "
                    + socketReceiveBufferBytes + ": Aeron refuses a window larger than the socket buffer");
        }
        if (wireCompression == null) {
            errors.add("wireCompression is missing (NONE, FP16 or BF16)");
        }
        if (wireSecurity == null) {
            errors.add("wireSecurity is missing (OFF, AUTHENTICATE or ENCRYPT)");
        }
        if (allReduceTopology == null) {
            errors.add("allReduceTopology is missing (AUTO, FLAT or HIERARCHICAL)");
        }
        if (hostId != null && (hostId.isBlank() || hostId.contains("|"))) {
            errors.add("hostId '" + hostId + "' must be non-blank and free of '|', or unset to use the bound address");
        }
        if (sharedMemoryDirectory == null || sharedMemoryDirectory.isBlank()) {
            errors.add("sharedMemoryDirectory is missing: give a directory on a memory-backed file system (/dev/shm)");
        }
        if (!errors.isEmpty()) {
            throw new IllegalArgumentException("invalid collective configuration: " + String.join("; ", errors));
        }
    }

    /** Fluent builder; unset fields keep their defaults. */
    public static final class Builder {
        private String bindAddress;
        private TransportMode transport = TransportMode.AUTO;
        private String driverDirectoryRoot = System.getProperty("java.io.tmpdir");
        private ThreadingMode driverThreading = ThreadingMode.SHARED_NETWORK;
        private IdleMode idleMode = IdleMode.BACKOFF;
        private IdleMode driverIdleMode = IdleMode.LONG_BACKOFF;
        private long connectTimeoutMs = 30_000;
        private long operationTimeoutMs = 120_000;
        private long heartbeatIntervalMs = 100;
        private long closeLingerMs = 2_000;
        private int mtuBytes = 8_192;
        private int termLengthBytes = 8 * 1024 * 1024;
        private int chunkBytes = DEFAULT_CHUNK_BYTES;
        private int socketSendBufferBytes = 2 * 1024 * 1024;
        private int socketReceiveBufferBytes = 2 * 1024 * 1024;
        private int receiverWindowBytes = 2 * 1024 * 1024;
        private WireCompression wireCompression = WireCompression.NONE;
        private WireSecurity wireSecurity = WireSecurity.AUTHENTICATE;
        private AllReduceTopology allReduceTopology = AllReduceTopology.AUTO;
        private String hostId;
        private boolean sharedMemory = true;
        private String sharedMemoryDirectory = DEFAULT_SHARED_MEMORY_DIRECTORY;

        private Builder() {
        }

        private Builder(CollectiveConfig c) {
            bindAddress = c.bindAddress;
            transport = c.transport;
            driverDirectoryRoot = c.driverDirectoryRoot;
            driverThreading = c.driverThreading;
            idleMode = c.idleMode;
            driverIdleMode = c.driverIdleMode;
            connectTimeoutMs = c.connectTimeoutMs;
            operationTimeoutMs = c.operationTimeoutMs;
            heartbeatIntervalMs = c.heartbeatIntervalMs;
            closeLingerMs = c.closeLingerMs;
            mtuBytes = c.mtuBytes;
            termLengthBytes = c.termLengthBytes;
            chunkBytes = c.chunkBytes;
            socketSendBufferBytes = c.socketSendBufferBytes;
            socketReceiveBufferBytes = c.socketReceiveBufferBytes;
            receiverWindowBytes = c.receiverWindowBytes;
            wireCompression = c.wireCompression;
            wireSecurity = c.wireSecurity;
            allReduceTopology = c.allReduceTopology;
            hostId = c.hostId;
            sharedMemory = c.sharedMemory;
            sharedMemoryDirectory = c.sharedMemoryDirectory;
        }

        public Builder bindAddress(String value) {
            bindAddress = value;
            return this;
        }

        public Builder transport(TransportMode value) {
            transport = value;
            return this;
        }

        public Builder driverDirectoryRoot(String value) {
            driverDirectoryRoot = value;
            return this;
        }

        public Builder driverThreading(ThreadingMode value) {
            driverThreading = value;
            return this;
        }

        public Builder idleMode(IdleMode value) {
            idleMode = value;
            return this;
        }

        public Builder driverIdleMode(IdleMode value) {
            driverIdleMode = value;
            return this;
        }

        public Builder connectTimeoutMs(long value) {
            connectTimeoutMs = value;
            return this;
        }

        public Builder operationTimeoutMs(long value) {
            operationTimeoutMs = value;
            return this;
        }

        public Builder heartbeatIntervalMs(long value) {
            heartbeatIntervalMs = value;
            return this;
        }

        public Builder closeLingerMs(long value) {
            closeLingerMs = value;
            return this;
        }

        public Builder mtuBytes(int value) {
            mtuBytes = value;
            return this;
        }

        public Builder termLengthBytes(int value) {
            termLengthBytes = value;
            return this;
        }

        public Builder chunkBytes(int value) {
            chunkBytes = value;
            return this;
        }

        public Builder socketSendBufferBytes(int value) {
            socketSendBufferBytes = value;
            return this;
        }

        public Builder socketReceiveBufferBytes(int value) {
            socketReceiveBufferBytes = value;
            return this;
        }

        public Builder receiverWindowBytes(int value) {
            receiverWindowBytes = value;
            return this;
        }

        public Builder wireCompression(WireCompression value) {
            wireCompression = value;
            return this;
        }

        public Builder wireSecurity(WireSecurity value) {
            wireSecurity = value;
            return this;
        }

        public Builder allReduceTopology(AllReduceTopology value) {
            allReduceTopology = value;
            return this;
        }

        public Builder hostId(String value) {
            hostId = value;
            return this;
        }

        /** @throws IllegalArgumentException listing every invalid setting */
        public CollectiveConfig build() {
            return new CollectiveConfig(bindAddress, transport, driverDirectoryRoot, driverThreading, idleMode,
                    driverIdleMode, connectTimeoutMs, operationTimeoutMs, heartbeatIntervalMs, closeLingerMs,
                    mtuBytes, termLengthBytes, chunkBytes, socketSendBufferBytes, socketReceiveBufferBytes,
                    receiverWindowBytes, wireCompression, wireSecurity, allReduceTopology, hostId, sharedMemory,
                    sharedMemoryDirectory);
        }

        public Builder sharedMemory(boolean value) {
            sharedMemory = value;
            return this;
        }

        public Builder sharedMemoryDirectory(String value) {
            sharedMemoryDirectory = value;
            return this;
        }
    }

    /** The part of the configuration the shared media driver depends on. */
    record DriverSettings(String directoryRoot, ThreadingMode threading, IdleMode idleMode) {
        DriverSettings {
            Objects.requireNonNull(directoryRoot);
        }
    }

    DriverSettings driverSettings() {
        return new DriverSettings(driverDirectoryRoot, driverThreading, driverIdleMode);
    }
}
