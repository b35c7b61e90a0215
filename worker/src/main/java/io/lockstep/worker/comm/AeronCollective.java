package io.lockstep.worker.comm;

import io.aeron.Aeron;
import io.aeron.Image;
import io.aeron.ImageControlledFragmentAssembler;
import io.aeron.logbuffer.ControlledFragmentHandler;
import io.aeron.logbuffer.ControlledFragmentHandler.Action;
import org.agrona.BufferUtil;
import org.agrona.CloseHelper;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.NanoClock;
import org.agrona.concurrent.SystemNanoClock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * {@link Collective} over Aeron: a ring of N ranks (one per replica), each with its own Aeron client on
 * the JVM's shared media driver ({@link MediaDrivers}). Ranks of the same driver talk over IPC, others
 * over UDP; every rank listens on one ephemeral UDP port bound to its own host address.
 *
 * <h2>Opening</h2>
 * Two phases, because ports are ephemeral: {@link #bind} binds this rank and yields its
 * {@link Endpoint}; the caller exchanges endpoints among all ranks (Spark: one
 * {@code BarrierTaskContext.allGather}); {@link CollectiveBinding#connect(List)} completes the group.
 * {@link #open(CollectiveConfig, GroupMember, Rendezvous)} does both around a {@link Rendezvous}.
 *
 * <h2>Links</h2>
 * A <em>ring link</em> from each rank to its successor carries all payloads (all-reduce, all-gather and
 * broadcast are ring algorithms, bandwidth-optimal), and a small <em>control link</em> between every pair
 * carries arrivals, heartbeats and completions (barrier, consistency checks, timeout reports).
 *
 * <p>When the ranks run on two or more hosts with the same number (two or more) of ranks each, all-reduces
 * are hierarchical unless {@link CollectiveConfig#allReduceTopology()} says flat ({@link HostLayout}): each
 * rank also has a ring link within its host and one across hosts, and an all-reduce becomes three
 * operations, a reduce-scatter within the host, an all-reduce of one shard per local index across hosts,
 * and an all-gather within the host. Across hosts each host then sends 2(H−1)/H of the buffer instead of
 * the flat ring's 2(N−1)/N, in 2(L−1) + 2(H−1) steps instead of 2(N−1).
 *
 * <p>When all ranks run on one host and {@link CollectiveConfig#sharedMemory()} is on, float and double
 * all-reduces skip the ring: {@link SharedMemoryAllReduce} sums each shard straight out of the ranks'
 * shared-memory segments, driven by the same event loop (control plane, deadlines, lost peers) as a ring
 * operation; {@link #allReducePath()} says which form is in force.
 *
 * <h2>Safety</h2>
 * Every frame carries job, stage attempt, epoch, step and operation sequence; frames of another job or
 * attempt are rejected and counted ({@link CollectiveStats#rejectedFrames()}), frames of the same group
 * but another operation, position, length or chunking fail the call with a message naming the peer.
 * Session and stream ids derive from the job secret and attempt ({@link LinkIds}), so the driver drops
 * stray publications before they reach this rank. Unless {@link CollectiveConfig#wireSecurity()} is off,
 * every frame is sealed ({@link FrameSeal}): a frame whose tag does not verify under the link's key or
 * that is not the link's next in sequence (forged, altered, replayed, reordered, or sent by a holder of
 * another secret) is refused before anything reads it (under {@code auth}, all-gather frames forwarded
 * under their originator's seal are checked under that originator's link key and sequence), counted
 * ({@link CollectiveStats#unauthenticFrames()}), logged with its source address, and named in the report if
 * the operation then fails. Every call is bounded by {@link CollectiveConfig#operationTimeoutMs()} and
 * fails with a {@link CollectiveTimeoutException} naming the ranks that never entered the operation or
 * went silent inside it; a peer whose stream
 * ends mid-operation fails the call at once ({@link PeerLostException}). After any failure the
 * collective is unusable: close it and open a new one.
 *
 * <h2>Threads</h2>
 * Not thread-safe: one thread (the replica's training thread) calls every method, including
 * {@link #close()}. Waiting uses {@link CollectiveConfig#idleMode()}; an interrupt of that thread ends
 * the current operation with a {@link CollectiveException} (the interrupt flag stays set). The hot
 * path allocates nothing per frame but what the JDK's {@code Cipher.init} does when wire security is on
 * (about 1 KiB per sealed or opened frame); all-gather and byte broadcast allocate their results.
 */
public final class AeronCollective implements Collective {
    private static final Logger LOG = LoggerFactory.getLogger(AeronCollective.class);
    private static final int DATA_FRAGMENT_LIMIT = 32;
    private static final int MAX_FRAMES_PER_TURN = 8;
    private static final long CHECK_INTERVAL_NS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final int CONTROL_POLL_MASK = 7;

    private final CollectiveConfig config;
    private final GroupMember member;
    private final List<Endpoint> endpoints;
    private final int rank;
    private final int size;
    private final int[] ringOrder;
    private final int position;
    private final HostLayout layout;
    private final String[] peerDescriptions;
    private final NanoClock clock;
    private final IdleStrategy idle;
    private final long operationTimeoutNs;
    private final long heartbeatIntervalNs;
    private final long silentAfterNs;
    private final byte floatEncoding;

    private final Aeron aeron;
    private final MediaDrivers.Handle driver;
    private final Ring flat;
    /** Hierarchical all-reduce only (else null): the ring within this rank's host and the one across hosts. */
    private final Ring hostRing;
    private final Ring crossRing;
    private final ControlPlane control;
    private final PeerTracker peers;
    private final OpIdentity identity;
    private final TrafficCounters counters = new TrafficCounters();
    private final FrameHeader rx = new FrameHeader();
    private final long[] unauthenticByPeer;
    private final String[] unauthenticSource;

    private final RingAllReduce allReduceOperation;
    private final RingAllReduce hostOperation;
    private final RingAllReduce crossOperation;
    /** All ranks on this host and shared memory on (else null): the all-reduce through shared memory. */
    private final SharedMemoryAllReduce sharedOperation;
    private final Ring sharedRing;
    private final SharedMemorySegment[] sharedSegments;
    private final RingAllGather allGatherOperation;
    private final RingBroadcast broadcastOperation;
    private final BarrierOperation barrierOperation;
    private RingStream streamOperation;

    private RingOperation active;
    private Ring activeRing;
    private String protocolFailure;
    private int protocolFailurePeer = Wire.NO_RANK;
    private int abortingPeer = Wire.NO_RANK;
    private CollectiveException brokenBy;
    private boolean closed;
    private long loopNowNs;

    AeronCollective(CollectiveConfig config, GroupMember member, List<Endpoint> endpoints, CollectiveBinding.Links links,
                    NanoClock clock, Aeron aeron, MediaDrivers.Handle driver, long jobHash) {
        this.config = config;
        this.member = member;
        this.endpoints = endpoints;
        this.rank = member.rank();
        this.size = member.groupSize();
        this.ringOrder = links.flat.order;
        this.position = links.flat.position;
        this.layout = links.layout;
        this.peerDescriptions = links.descriptions;
        this.clock = clock;
        this.idle = config.idleMode().newStrategy();
        this.operationTimeoutNs = TimeUnit.MILLISECONDS.toNanos(config.operationTimeoutMs());
        this.heartbeatIntervalNs = TimeUnit.MILLISECONDS.toNanos(config.heartbeatIntervalMs());
        this.silentAfterNs = heartbeatIntervalNs * CollectiveConfig.SILENT_AFTER_HEARTBEATS;
        this.floatEncoding = Wire.floatEncoding(config.wireCompression());
        this.aeron = aeron;
        this.driver = driver;
        this.identity = new OpIdentity(rank, jobHash, member.stageAttempt());
        this.peers = new PeerTracker(size);
        int frameBytes = FrameHeader.LENGTH + config.chunkBytes();
        WireSecurity security = config.wireSecurity();
        boolean sealed = security != WireSecurity.OFF;
        this.unauthenticByPeer = new long[size];
        this.unauthenticSource = new String[size];
        this.flat = new Ring(links.flat, frameBytes, security);
        this.hostRing = links.host == null ? null : new Ring(links.host, frameBytes, security);
        this.crossRing = links.cross == null ? null : new Ring(links.cross, frameBytes, security);
        Image[] controlImages = new Image[size];
        for (int peer = 0; peer < size; peer++) {
            if (links.controlSubscriptions[peer] != null) {
                controlImages[peer] = links.controlSubscriptions[peer].imageAtIndex(0);
            }
        }
        FrameSeal.Sealer[] controlSealers = null;
        FrameSeal.Opener[] controlOpeners = null;
        if (sealed) {
            controlSealers = new FrameSeal.Sealer[size];
            controlOpeners = new FrameSeal.Opener[size];
            for (int peer = 0; peer < size; peer++) {
                if (peer != rank) {
                    controlSealers[peer] = new FrameSeal.Sealer(security, linkKey(Wire.LINK_CONTROL, rank, peer),
                            FrameHeader.LENGTH, peerDescriptions[peer]);
                    controlOpeners[peer] = new FrameSeal.Opener(security, linkKey(Wire.LINK_CONTROL, peer, rank),
                            FrameHeader.LENGTH);
                }
            }
        }
        this.control = new ControlPlane(identity, peers, counters, new ControlListener(), links.controlPublications,
                controlImages, peerDescriptions, controlSealers, controlOpeners);
        this.allReduceOperation = new RingAllReduce(identity, ringOrder, position, config.chunkBytes(),
                security.forwardsSealedFrames(size));
        this.hostOperation = hostRing == null ? null : new RingAllReduce(identity, hostRing.order, hostRing.position,
                config.chunkBytes(), security.forwardsSealedFrames(hostRing.order.length));
        this.crossOperation = crossRing == null ? null : new RingAllReduce(identity, crossRing.order,
                crossRing.position, config.chunkBytes(), security.forwardsSealedFrames(crossRing.order.length));
        this.sharedSegments = links.sharedSegments;
        this.sharedRing = links.sharedRing == null ? null : new Ring(links.sharedRing, frameBytes, security);
        this.sharedOperation = links.sharedSegments == null ? null
                : new SharedMemoryAllReduce(identity, links.sharedSegments, rank);
        this.allGatherOperation = new RingAllGather(identity, ringOrder, position, config.chunkBytes());
        this.broadcastOperation = new RingBroadcast(identity, size, position, config.chunkBytes());
        this.barrierOperation = new BarrierOperation(identity, size);
    }

    private byte[] linkKey(int link, int sender, int receiver) {
        return FrameSeal.linkKey(member.jobSecret(), member.jobId(), member.stageAttempt(), config.wireSecurity(), link,
                endpoints.get(sender), endpoints.get(receiver));
    }

    /** Binds this rank (first phase of opening), with the system clock. */
    public static CollectiveBinding bind(CollectiveConfig config, GroupMember member) {
        return bind(config, member, SystemNanoClock.INSTANCE);
    }

    /**
     * Binds this rank: acquires the JVM's media driver, connects an Aeron client and binds a UDP
     * subscription to this host on an ephemeral port.
     *
     * @param clock time source of every deadline and heartbeat (inject a controllable one in tests)
     */
    public static CollectiveBinding bind(CollectiveConfig config, GroupMember member, NanoClock clock) {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(member, "member");
        Objects.requireNonNull(clock, "clock");
        return CollectiveBinding.bind(config, member, clock);
    }

    /**
     * Opens a connected collective: binds, exchanges endpoints through {@code rendezvous}, connects.
     * Releases everything if any step fails.
     */
    public static AeronCollective open(CollectiveConfig config, GroupMember member, Rendezvous rendezvous) {
        Objects.requireNonNull(rendezvous, "rendezvous");
        CollectiveBinding binding = bind(config, member);
        try {
            return binding.connect(rendezvous.exchange(binding.localEndpoint()));
        } catch (RuntimeException e) {
            binding.close();
            throw e;
        }
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    /** Every rank's endpoint, indexed by rank. */
    public List<Endpoint> endpoints() {
        return endpoints;
    }

    public Endpoint localEndpoint() {
        return endpoints.get(rank);
    }

    @Override
    public void position(int epoch, long step) {
        identity.epoch = epoch;
        identity.step = step;
    }

    @Override
    public CollectiveStats stats() {
        return counters.snapshot();
    }

    @Override
    public void allReduce(float[] data, int offset, int length, ReduceOp op) {
        allReduceFloats(data, offset, length, op, floatEncoding);
    }

    @Override
    public void allReduce(float[] data, int offset, int length, ReduceOp op, WireCompression compression) {
        allReduceFloats(data, offset, length, op, Wire.floatEncoding(Objects.requireNonNull(compression, "compression")));
    }

    private void allReduceFloats(float[] data, int offset, int length, ReduceOp op, byte encoding) {
        Objects.checkFromIndexSize(offset, length, data.length);
        Objects.requireNonNull(op, "op");
        usable();
        reduce(data, ElementLoops.FLOAT_ARRAY_BASE + (long) offset * Float.BYTES, length, false, encoding, op);
    }

    @Override
    public void allReduce(double[] data, int offset, int length, ReduceOp op) {
        Objects.checkFromIndexSize(offset, length, data.length);
        Objects.requireNonNull(op, "op");
        usable();
        reduce(data, ElementLoops.DOUBLE_ARRAY_BASE + (long) offset * Double.BYTES, length, true, Wire.ENCODING_F64, op);
    }

    /**
     * In-place all-reduce of {@code floatCount} floats starting {@code floatOffset} floats into
     * {@code floats} (absolute, ignoring position and limit), without copying: suits the off-heap
     * buffers of ND4J arrays. The memory must hold native-order floats, and the buffer's
     * {@link ByteBuffer#order()} must say so; heap buffers work too.
     */
    @Override
    public void allReduce(ByteBuffer floats, int floatOffset, int floatCount, ReduceOp op) {
        allReduceInPlace(floats, floatOffset, floatCount, op, floatEncoding);
    }

    /** As {@link #allReduce(ByteBuffer, int, int, ReduceOp)}, narrowed on the wire to {@code compression}. */
    @Override
    public void allReduce(ByteBuffer floats, int floatOffset, int floatCount, ReduceOp op, WireCompression compression) {
        allReduceInPlace(floats, floatOffset, floatCount, op,
                Wire.floatEncoding(Objects.requireNonNull(compression, "compression")));
    }

    private void allReduceInPlace(ByteBuffer floats, int floatOffset, int floatCount, ReduceOp op, byte encoding) {
        Objects.requireNonNull(floats, "floats");
        Objects.requireNonNull(op, "op");
        Objects.checkFromIndexSize((long) floatOffset * Float.BYTES, (long) floatCount * Float.BYTES, floats.capacity());
        if (floats.order() != ByteOrder.nativeOrder()) {
            throw new IllegalArgumentException("the buffer's order is " + floats.order() + " but its floats must be in "
                    + "native order (" + ByteOrder.nativeOrder() + "): call order(ByteOrder.nativeOrder())");
        }
        if (floats.isReadOnly()) {
            throw new IllegalArgumentException("all-reduce writes its result in place: the buffer is read-only");
        }
        usable();
        Object base;
        long address;
        if (floats.isDirect()) {
            base = null;
            address = BufferUtil.address(floats);
        } else {
            base = floats.array();
            address = ElementLoops.BYTE_ARRAY_BASE + floats.arrayOffset();
        }
        reduce(base, address + (long) floatOffset * Float.BYTES, floatCount, false, encoding, op);
    }

    /**
     * All-reduce on the flat ring, or in three operations when the layout is hierarchical: a reduce-scatter
     * within the host leaves this rank its host's sum of one shard; an all-reduce of that shard with the
     * ranks of the same local index on the other hosts completes it (the shard's owner on that ring
     * divides and rounds to the wire precision, so all copies are bit-identical); an all-gather within the
     * host hands every rank all the shards. Within a host values travel as fp32 (or fp64): the narrowing
     * of a compressed all-reduce saves bandwidth where it is scarce, between hosts, and rounds only once.
     */
    private void reduce(Object base, long address, int length, boolean doubles, byte encoding, ReduceOp op) {
        if (sharedOperation != null && SharedMemoryAllReduce.fits((long) length * (doubles ? Double.BYTES : Float.BYTES))) {
            sharedOperation.prepare(base, address, length, doubles, encoding, op);
            try {
                execute(sharedOperation, sharedRing);
            } finally {
                sharedOperation.release();
            }
            return;
        }
        if (hostRing == null) {
            allReduceOperation.prepare(base, address, length, doubles, encoding, op);
            try {
                execute(allReduceOperation, flat);
            } finally {
                allReduceOperation.release();
            }
            return;
        }
        int local = hostRing.order.length;
        int segment = RingAllReduce.ownedSegment(hostRing.position, local);
        int first = RingAllReduce.segmentStart(length, local, segment);
        int shard = RingAllReduce.segmentStart(length, local, segment + 1) - first;
        byte hostEncoding = doubles ? Wire.ENCODING_F64 : Wire.ENCODING_F32;
        try {
            hostOperation.prepare(base, address, length, length, doubles, hostEncoding, Wire.OP_HOST_REDUCE_SCATTER,
                    RingAllReduce.Phases.REDUCE_SCATTER, 1);
            execute(hostOperation, hostRing);
            crossOperation.prepare(base, address + (long) first * (doubles ? Double.BYTES : Float.BYTES), shard, length,
                    doubles, encoding, RingAllReduce.allReduceType(op), RingAllReduce.Phases.BOTH,
                    op == ReduceOp.AVERAGE ? size : 1);
            execute(crossOperation, crossRing);
            hostOperation.prepare(base, address, length, length, doubles, hostEncoding, Wire.OP_HOST_ALL_GATHER,
                    RingAllReduce.Phases.ALL_GATHER, 1);
            execute(hostOperation, hostRing);
        } finally {
            hostOperation.release();
            crossOperation.release();
        }
    }

    /** Where the ranks run and the all-reduce form chosen from it. */
    public HostLayout hostLayout() {
        return layout;
    }

    /**
     * How float and double all-reduces travel, for logs and run summaries: {@code shared memory} (every rank on
     * this host, {@link CollectiveConfig#sharedMemory()} on), {@code hierarchical HxL} or {@code flat ring}.
     */
    public String allReducePath() {
        return sharedOperation != null ? "shared memory (" + size + " ranks of one host)"
                : layout.hierarchical() ? layout.shape() : "flat ring";
    }

    @Override
    public byte[][] allGather(byte[] contribution) {
        Objects.requireNonNull(contribution, "contribution");
        usable();
        allGatherOperation.prepare(contribution);
        try {
            execute(allGatherOperation, flat);
            return allGatherOperation.takeResult();
        } finally {
            allGatherOperation.release();
        }
    }

    @Override
    public void broadcast(float[] data, int offset, int length, int root) {
        Objects.checkFromIndexSize(offset, length, data.length);
        checkRoot(root);
        if (length > Integer.MAX_VALUE / Float.BYTES) {
            throw new IllegalArgumentException("broadcast of " + length + " floats exceeds 2 GiB; split it");
        }
        usable();
        broadcastOperation.prepareFloats(data, ElementLoops.FLOAT_ARRAY_BASE + (long) offset * Float.BYTES, length,
                root, positionOf(root));
        try {
            execute(broadcastOperation, flat);
        } finally {
            broadcastOperation.release();
        }
    }

    @Override
    public byte[] broadcast(byte[] data, int root) {
        checkRoot(root);
        if (root == rank) {
            Objects.requireNonNull(data, "the root of a broadcast must pass its data");
        }
        usable();
        broadcastOperation.prepareBytes(root == rank ? data : null, root, positionOf(root));
        try {
            execute(broadcastOperation, flat);
            return broadcastOperation.takeBytes();
        } finally {
            broadcastOperation.release();
        }
    }

    @Override
    public void barrier() {
        usable();
        execute(barrierOperation, flat);
    }

    /**
     * Benchmark probe of the ring's raw capacity: ranks at ring positions below {@code sendingPositions}
     * each stream {@code bytesPerLink} bytes to their successor at full speed, in frames of
     * {@link CollectiveConfig#chunkBytes()}, with no reduction and no synchronization; the others only
     * receive. Every rank must call it with the same arguments (it is a collective call).
     *
     * @return nanoseconds this rank spent until it had sent and received everything
     */
    public long measureRingStream(long bytesPerLink, int sendingPositions) {
        if (bytesPerLink < 0 || (bytesPerLink + config.chunkBytes() - 1) / config.chunkBytes() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("bytesPerLink out of range: " + bytesPerLink);
        }
        if (sendingPositions < 0 || sendingPositions > size) {
            throw new IllegalArgumentException("sendingPositions must be in [0, " + size + "], was " + sendingPositions);
        }
        usable();
        if (streamOperation == null) {
            streamOperation = new RingStream(identity, ringOrder, position, config.chunkBytes());
        }
        streamOperation.prepare(bytesPerLink, sendingPositions);
        long start = clock.nanoTime();
        execute(streamOperation, flat);
        return clock.nanoTime() - start;
    }

    /** Ring order of ranks (a rank sends to the next one, wrapping around). */
    public int[] ringOrder() {
        return ringOrder.clone();
    }

    /**
     * Waits for the peers' last confirmations (bounded by {@link CollectiveConfig#closeLingerMs()},
     * skipped after a failure), then releases the Aeron client and this rank's claim on the media driver.
     * Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (brokenBy == null && identity.opSeq > 0 && size > 1) {
                linger();
            }
        } catch (RuntimeException e) {
            LOG.warn("{}: could not confirm the last operation with its peers while closing: {}", member, e.toString());
        } finally {
            if (sharedSegments != null) {
                CloseHelper.closeAll(sharedSegments);
            }
            CloseHelper.closeAll(aeron, driver);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // The event loop

    private void execute(RingOperation op, Ring ring) {
        long started = clock.nanoTime();
        long deadline = started + operationTimeoutNs;
        identity.opSeq++;
        loopNowNs = started;
        active = op;
        activeRing = ring;
        LinkSender dataSender = ring.sender;
        Image dataImage = ring.image;
        try {
            control.announceArrival(op.opType(), op.agreedLength(), op.agreedRoot());
            for (int peer = 0; peer < size; peer++) {
                if (peer != rank) {
                    checkPeerAgrees(peer);
                }
            }
            long lastHeartbeat = started;
            int turn = 0;
            long nextCheck = started + CHECK_INTERVAL_NS;
            idle.reset();
            while (true) {
                long now = clock.nanoTime();
                loopNowNs = now;
                int work = 0;
                if (dataSender != null) {
                    work += dataSender.flush();
                    if (!op.sendsDone()) {
                        work += op.sendSome(dataSender, MAX_FRAMES_PER_TURN);
                    }
                }
                if (dataImage != null && !op.receivesDone()) {
                    work += dataImage.controlledPoll(ring.handler, DATA_FRAGMENT_LIMIT);
                }
                if (dataImage == null && dataSender == null && !op.complete(peers, identity.opSeq)) {
                    work += op.advance();
                    if (op.failure() != null && protocolFailure == null) {
                        protocolFailure = op.failure();
                        protocolFailurePeer = op.failurePeer();
                    }
                }
                // Control frames are rare: while payloads flow, look at them every few turns only.
                if (work == 0 || (++turn & CONTROL_POLL_MASK) == 0) {
                    work += control.poll(now);
                    work += control.flush();
                }
                if (protocolFailure != null) {
                    throw new CollectiveException(describe(op) + " failed: " + protocolFailure + unauthenticReport());
                }
                if (abortingPeer != Wire.NO_RANK) {
                    throw peerGaveUp(op, abortingPeer, now);
                }
                if (op.complete(peers, identity.opSeq) && (dataSender == null || !dataSender.hasPending())
                        && !anyArrivalPending()) {
                    break;
                }
                if (now - lastHeartbeat >= heartbeatIntervalNs) {
                    control.heartbeat(awaitedRank(op));
                    lastHeartbeat = now;
                }
                if (now - nextCheck >= 0) {
                    checkPeersPresent(op);
                    checkInterrupted(op);
                    nextCheck = now + CHECK_INTERVAL_NS;
                }
                if (now - deadline >= 0) {
                    throw timeout(op, started, now);
                }
                idle.idle(work);
            }
        } catch (CollectiveException e) {
            brokenBy = e;
            tellPeersWeGaveUp(e);
            throw e;
        } catch (RuntimeException e) {
            brokenBy = new CollectiveException(describe(op) + " failed: " + e, e);
            tellPeersWeGaveUp(brokenBy);
            throw brokenBy;
        } finally {
            active = null;
        }
        activeRing = null;
        control.announceCompletion();
        counters.operations++;
        counters.operationNanos += clock.nanoTime() - started;
    }

    /** Peers waiting in the same operation learn at once why it cannot finish, instead of at their deadline. */
    private void tellPeersWeGaveUp(CollectiveException failure) {
        if (size == 1) {
            return;
        }
        if (failure instanceof CollectiveTimeoutException timeout) {
            control.announceAbort(timeout.silentRanks().isEmpty() ? Wire.NO_RANK : timeout.silentRanks().get(0),
                    Wire.ABORT_TIMEOUT);
        } else if (failure instanceof PeerLostException lost) {
            control.announceAbort(lost.lostRanks().get(0), Wire.ABORT_PEER_LOST);
        } else {
            control.announceAbort(protocolFailurePeer, Wire.ABORT_OTHER);
        }
    }

    private boolean anyArrivalPending() {
        for (int peer = 0; peer < size; peer++) {
            if (peer != rank && control.arrivalPending(peer)) {
                return true;
            }
        }
        return false;
    }

    private Action onDataFrame(Ring ring, DirectBuffer buffer, int offset, int length, boolean privateMemory) {
        int predecessor = ring.predecessor;
        if (ring.opener == null) {
            if (length >= FrameHeader.LENGTH && FrameHeader.linkSequence(buffer, offset) != 0) {
                rejected(predecessor, null, length, "sealed frame, but this rank has wire security off: every rank "
                        + "must use the same wireSecurity");
                return Action.CONTINUE;
            }
            return onOpenedDataFrame(ring, buffer, offset, length, predecessor);
        }
        // The sender the header names chooses the key: the predecessor's link, or for a frame forwarded
        // unchanged its originator's; a false name only picks a key the frame does not verify under.
        int sealedBy = length >= FrameHeader.LENGTH ? FrameHeader.senderOf(buffer, offset) : predecessor;
        FrameSeal.FrameOpener opener;
        String refusal;
        if (sealedBy != predecessor && ring.forwardedOpener != null && ring.forwardedOpener.forwardsFrom(sealedBy)) {
            opener = ring.forwardedOpener;
            refusal = ring.forwardedOpener.open(sealedBy, buffer, offset, length, privateMemory);
        } else {
            sealedBy = predecessor;
            opener = ring.opener;
            refusal = ring.opener.open(buffer, offset, length, privateMemory);
        }
        if (refusal != null) {
            unauthentic(predecessor, ring.image.sourceIdentity(), length, refusal);
            return Action.CONTINUE;
        }
        // The opened frame may be the very bytes verified in the assembler's buffer: they are consumed before
        // this handler returns, and nothing else writes them until then.
        Action action = onOpenedDataFrame(ring, opener.buffer(), opener.frameOffset(), opener.frameLength(), sealedBy);
        if (action == null) {
            return Action.CONTINUE; // refused: its sequence number stays free for the genuine frame
        }
        if (action != Action.ABORT) {
            opener.consume();
        }
        return action;
    }

    /**
     * @param sealedBy the rank whose seal the frame passed: the predecessor, or a forwarded frame's originator
     * @return what Aeron does with the frame next, or null when an authentic forwarded frame was refused as out
     *         of place (the caller skips it without taking its sequence number)
     */
    private Action onOpenedDataFrame(Ring ring, DirectBuffer buffer, int offset, int length, int sealedBy) {
        int predecessor = ring.predecessor;
        if (length < FrameHeader.LENGTH) {
            rejected(predecessor, null, length, "data frame shorter than the header");
            return Action.CONTINUE;
        }
        FrameHeader header = rx.wrap(buffer, offset);
        if (header.magic() != FrameHeader.MAGIC || header.frameType() != FrameHeader.TYPE_DATA) {
            rejected(predecessor, null, length, "not a Lockstep data frame");
            return Action.CONTINUE;
        }
        if (header.jobHash() != identity.jobHash || header.stageAttempt() != identity.stageAttempt) {
            rejected(predecessor, header, length, "frame of another job or stage attempt");
            return Action.CONTINUE;
        }
        if (header.sender() != sealedBy) { // with wire security off; a sealed frame's sender chose its key
            rejected(predecessor, header, length, "frame claims to come from rank " + header.sender());
            return Action.CONTINUE;
        }
        long seq = header.opSeq();
        if (seq > identity.opSeq) {
            return Action.ABORT; // the predecessor is already in the next operation: keep it for then
        }
        if (seq < identity.opSeq) {
            if (sealedBy != predecessor) {
                return outOfPlace(ring, sealedBy, length, "a frame of operation #" + seq + ", which is over");
            }
            rejected(predecessor, header, length, "frame of operation #" + seq + ", which is over");
            return Action.CONTINUE;
        }
        RingOperation op = active;
        if (op == null || activeRing != ring) {
            return Action.ABORT;
        }
        if (sealedBy != predecessor) {
            // A genuine forwarded frame fits where it arrives, unless a frame before it on this link was refused:
            // its originator runs this same operation. One that does not fit was copied here from another link
            // of the ring, or lost its place to a refused frame: refuse it like a forged one rather than blame
            // its originator.
            String problem;
            if (!op.acceptsForwardedFrames() || header.opType() != op.opType() || header.encoding() != op.encoding()) {
                problem = "a frame of " + Wire.opName(header.opType()) + " (" + Wire.encodingName(header.encoding())
                        + ") where this rank runs " + Wire.opName(op.opType());
            } else if (header.epoch() != identity.epoch || header.step() != identity.step) {
                problem = "a frame of epoch " + header.epoch() + " step " + header.step() + " where this rank is at "
                        + "epoch " + identity.epoch + " step " + identity.step;
            } else {
                problem = op.onData(header, buffer, offset + FrameHeader.LENGTH, length - FrameHeader.LENGTH);
            }
            if (problem != null) {
                return outOfPlace(ring, sealedBy, length, problem);
            }
            counters.framesReceived++;
            counters.bytesReceived += length;
            return Action.CONTINUE;
        }
        if (header.opType() != op.opType() || header.encoding() != op.encoding()) {
            return fail(predecessor, "rank " + predecessor + " sent " + Wire.opName(header.opType()) + " data ("
                    + Wire.encodingName(header.encoding()) + ") for operation #" + seq + " where this rank runs "
                    + Wire.opName(op.opType()) + " (" + Wire.encodingName(op.encoding()) + "): every rank must call the "
                    + "same collectives in the same order with the same wireCompression");
        }
        if (header.epoch() != identity.epoch || header.step() != identity.step) {
            return fail(predecessor, "rank " + predecessor + " is at epoch " + header.epoch() + " step " + header.step()
                    + " where this rank is at epoch " + identity.epoch + " step " + identity.step
                    + ": replicas are out of step");
        }
        counters.framesReceived++;
        counters.bytesReceived += length;
        String problem = op.onData(header, buffer, offset + FrameHeader.LENGTH, length - FrameHeader.LENGTH);
        return problem == null ? Action.CONTINUE : fail(predecessor, problem);
    }

    /**
     * Refuses an authentic forwarded frame that does not fit where it arrived, like a forged one.
     *
     * @return null: the caller skips the frame without taking its sequence number
     */
    private Action outOfPlace(Ring ring, int originator, int length, String problem) {
        unauthentic(ring.predecessor, ring.image.sourceIdentity(), length, "authentic frame of rank " + originator
                + " out of place (" + problem + "): a copy from another link, or a frame before it on this link "
                + "was refused");
        return null;
    }

    private Action fail(int peer, String message) {
        if (protocolFailure == null) {
            protocolFailure = message;
            protocolFailurePeer = peer;
        }
        return Action.BREAK;
    }

    private void rejected(int linkPeer, FrameHeader header, int length, String reason) {
        long count = ++counters.rejectedFrames;
        if (Long.bitCount(count) == 1) {
            String origin = header == null ? "" : " (job hash " + Long.toHexString(header.jobHash()) + ", stage attempt "
                    + header.stageAttempt() + ", operation #" + header.opSeq() + "; this group: job hash "
                    + Long.toHexString(identity.jobHash) + ", stage attempt " + identity.stageAttempt + ")";
            LOG.warn("{} rejected a {}-byte frame on the link from rank {}: {}{}; {} rejected so far", member, length,
                    linkPeer, reason, origin, count);
        }
    }

    private void unauthentic(int linkPeer, String source, int length, String reason) {
        counters.rejectedFrames++;
        counters.unauthenticFrames++;
        long count = ++unauthenticByPeer[linkPeer];
        unauthenticSource[linkPeer] = source;
        if (Long.bitCount(count) == 1) {
            LOG.warn("{} refused a {}-byte frame on the link from rank {}, sent from {}: {}; {} frames refused from "
                    + "rank {}'s links so far. Something on the network forges, alters or replays frames, or a process "
                    + "there uses another job secret or wireSecurity", member, length, linkPeer, source, reason, count,
                    linkPeer);
        }
    }

    /** Names the links that delivered frames failing authentication, for failure reports ("" if none). */
    private String unauthenticReport() {
        StringBuilder report = new StringBuilder();
        for (int peer = 0; peer < size; peer++) {
            if (unauthenticByPeer[peer] > 0) {
                report.append(" The link from rank ").append(peer).append(" delivered ").append(unauthenticByPeer[peer])
                        .append(" frames that failed authentication, last from ").append(unauthenticSource[peer])
                        .append(": frames on it are being forged, altered or replayed, or that source uses another "
                                + "job secret or wireSecurity; refused frames are never used, so the genuine ones "
                                + "they displaced are missing.");
            }
        }
        return report.toString();
    }

    private final class ControlListener implements ControlPlane.Listener {
        @Override
        public void onPeerState(int peer) {
            if (active != null) {
                checkPeerAgrees(peer);
            }
        }

        @Override
        public void onRejected(int linkPeer, FrameHeader header, int length, String reason) {
            rejected(linkPeer, header, length, reason);
        }

        @Override
        public void onUnauthentic(int linkPeer, String source, int length, String reason) {
            unauthentic(linkPeer, source, length, reason);
        }
    }

    /** Fails the operation when a peer announced the same operation number for a different call. */
    private void checkPeerAgrees(int peer) {
        RingOperation op = active;
        if (op == null || protocolFailure != null) {
            return;
        }
        // A peer that gave up on this or an earlier operation will never take part in this one.
        if (peers.abortedAtOrBefore(peer, identity.opSeq)) {
            if (abortingPeer == Wire.NO_RANK) {
                abortingPeer = peer;
            }
            return;
        }
        if (peers.opSeq(peer) != identity.opSeq) {
            return;
        }
        String where = " as operation #" + identity.opSeq + " (epoch " + identity.epoch + ", step " + identity.step + ")";
        if (peers.opType(peer) != op.opType()) {
            fail(peer, "rank " + peer + " called " + Wire.opName(peers.opType(peer)) + where + " where this rank called "
                    + Wire.opName(op.opType()) + ": every rank must call the same collectives in the same order");
        } else if (op.agreedLength() >= 0 && peers.opLength(peer) != op.agreedLength()) {
            fail(peer, "rank " + peer + " called " + Wire.opName(op.opType()) + " with " + peers.opLength(peer)
                    + " values" + where + " where this rank passed " + op.agreedLength()
                    + ": every rank must pass the same length");
        } else if (op.agreedRoot() != Wire.NO_RANK && peers.root(peer) != op.agreedRoot()) {
            fail(peer, "rank " + peer + " broadcasts from root " + peers.root(peer) + where + " where this rank names root "
                    + op.agreedRoot());
        }
    }

    private int awaitedRank(RingOperation op) {
        if (op.awaitedPeer() != Wire.NO_RANK) {
            return op.awaitedPeer();
        }
        Ring ring = activeRing;
        if (ring.image != null && !op.receivesDone()) {
            return ring.predecessor;
        }
        if (ring.sender != null && (!op.sendsDone() || ring.sender.hasPending())) {
            return ring.successor;
        }
        for (int peer = 0; peer < size; peer++) {
            if (peer != rank && !peers.arrived(peer, identity.opSeq)) {
                return peer;
            }
        }
        return Wire.NO_RANK;
    }

    private void checkPeersPresent(RingOperation op) {
        List<Integer> lost = null;
        Ring ring = activeRing;
        if (ring.image != null && !op.receivesDone() && (ring.image.isClosed() || ring.image.isEndOfStream())) {
            lost = new ArrayList<>(List.of(ring.predecessor));
        }
        for (int peer = 0; peer < size; peer++) {
            if (peer == rank || !control.streamEnded(peer)) {
                continue;
            }
            boolean stillNeeded = op == barrierOperation ? !peers.arrived(peer, identity.opSeq)
                    : !peers.done(peer, identity.opSeq);
            if (stillNeeded) {
                if (lost == null) {
                    lost = new ArrayList<>();
                }
                if (!lost.contains(peer)) {
                    lost.add(peer);
                }
            }
        }
        if (lost != null) {
            lost.sort(null);
            throw new PeerLostException(describe(op) + " failed: ranks " + lost + " left the group before finishing it "
                    + "(their streams ended: they closed their collective or their process exited). Look at those "
                    + "ranks' logs for the cause; this rank " + op.progress(), lost);
        }
    }

    private void checkInterrupted(RingOperation op) {
        if (Thread.currentThread().isInterrupted()) {
            throw new CollectiveException(describe(op) + " was interrupted (task cancelled?) while this rank "
                    + op.progress());
        }
    }

    /** A peer gave up on this operation: fail with its diagnosis and this rank's own view. */
    private CollectiveException peerGaveUp(RingOperation op, int peer, long now) {
        int culprit = peers.waitingFor(peer);
        int reason = peers.root(peer);
        List<Integer> neverArrived = new ArrayList<>();
        for (int other = 0; other < size; other++) {
            if (other != rank && other != peer && !peers.arrived(other, identity.opSeq)) {
                neverArrived.add(other);
            }
        }
        TreeSet<Integer> culprits = new TreeSet<>(neverArrived);
        if (culprit >= 0 && culprit < size) {
            culprits.add(culprit);
        }
        String why = switch (reason) {
            case Wire.ABORT_TIMEOUT -> "its deadline passed";
            case Wire.ABORT_PEER_LOST -> "a rank left the group";
            default -> "it hit an error";
        };
        long abandoned = peers.opSeq(peer);
        StringBuilder message = new StringBuilder(describe(op)).append(" failed: rank ").append(peer)
                .append(abandoned == identity.opSeq ? " gave up on it (" : " gave up on operation #" + abandoned + " (")
                .append(why);
        if (culprit >= 0 && culprit < size) {
            message.append(", blaming rank ").append(culprit);
        }
        message.append(')');
        if (!neverArrived.isEmpty()) {
            message.append("; ranks ").append(neverArrived).append(" never entered it");
        }
        message.append("; this rank ").append(op.progress()).append(". Look at rank ").append(peer)
                .append("'s log for its full report.").append(unauthenticReport());
        if (reason == Wire.ABORT_TIMEOUT) {
            return new CollectiveTimeoutException(message.toString(), new ArrayList<>(culprits));
        }
        if (reason == Wire.ABORT_PEER_LOST && !culprits.isEmpty()) {
            return new PeerLostException(message.toString(), new ArrayList<>(culprits));
        }
        return new CollectiveException(message.toString());
    }

    private CollectiveTimeoutException timeout(RingOperation op, long started, long now) {
        long seq = identity.opSeq;
        List<Integer> neverArrived = new ArrayList<>();
        List<Integer> silent = new ArrayList<>();
        for (int peer = 0; peer < size; peer++) {
            if (peer == rank) {
                continue;
            }
            if (!peers.arrived(peer, seq)) {
                neverArrived.add(peer);
            } else if (!peers.done(peer, seq) && peers.silenceNs(peer, now) > silentAfterNs) {
                silent.add(peer);
            }
        }
        TreeSet<Integer> culprits = new TreeSet<>(neverArrived);
        culprits.addAll(silent);
        StringBuilder message = new StringBuilder(describe(op)).append(" timed out after ")
                .append(TimeUnit.NANOSECONDS.toMillis(now - started)).append(" ms");
        if (!neverArrived.isEmpty()) {
            message.append("; ranks ").append(neverArrived).append(" never entered it");
        }
        if (!silent.isEmpty()) {
            message.append("; ranks ").append(silent).append(" entered it but have been silent for more than ")
                    .append(TimeUnit.NANOSECONDS.toMillis(silentAfterNs))
                    .append(" ms (process dead or hung, or network cut)");
        }
        if (culprits.isEmpty()) {
            int awaited = awaitedRank(op);
            if (awaited != Wire.NO_RANK) {
                culprits.add(awaited);
            }
            message.append("; every rank entered it and is alive, but this rank still waits for ")
                    .append(awaited == Wire.NO_RANK ? "its peers" : peerDescriptions[awaited])
                    .append(": the exchange is slower than the deadline allows");
        }
        message.append("; this rank ").append(op.progress()).append('.');
        Ring ring = activeRing;
        if (ring.sender != null && ring.sender.sawNotConnected()) {
            message.append(" The ").append(ring.name).append(" link to ").append(peerDescriptions[ring.successor])
                    .append(" has no subscriber.");
        }
        message.append(" Peers: ");
        for (int peer = 0; peer < size; peer++) {
            if (peer != rank) {
                message.append(peers.describe(peer, now));
                if (control.sawNotConnected(peer)) {
                    message.append(" (control link not connected)");
                }
                message.append(peer == size - 1 || peer == size - 2 && rank == size - 1 ? "." : "; ");
            }
        }
        message.append(" Look at the logs of ranks ").append(culprits)
                .append("; if they are only slow, raise operationTimeoutMs (now ").append(config.operationTimeoutMs())
                .append(" ms).").append(unauthenticReport());
        return new CollectiveTimeoutException(message.toString(), new ArrayList<>(culprits));
    }

    private void linger() {
        long deadline = clock.nanoTime() + TimeUnit.MILLISECONDS.toNanos(config.closeLingerMs());
        long seq = identity.opSeq;
        control.announceCompletion();
        idle.reset();
        while (true) {
            long now = clock.nanoTime();
            int work = control.flush() + control.poll(now);
            boolean sendersFlushed = true;
            for (Ring ring : rings()) {
                if (ring.sender != null) {
                    work += ring.sender.flush();
                    // Frames for a successor that has closed can never be delivered, and it needs none.
                    sendersFlushed &= !ring.sender.hasPending() || control.streamEnded(ring.sender.peerRank());
                }
            }
            List<Integer> waiting = null;
            for (int peer = 0; peer < size; peer++) {
                if (peer != rank && !peers.done(peer, seq) && !control.streamEnded(peer)) {
                    if (waiting == null) {
                        waiting = new ArrayList<>();
                    }
                    waiting.add(peer);
                }
            }
            boolean flushed = !control.anyAnnouncementPending() && sendersFlushed;
            if (waiting == null && flushed) {
                return;
            }
            if (now - deadline >= 0) {
                LOG.info("{} closes without confirmation that ranks {} finished operation #{} (waited {} ms)", member,
                        waiting == null ? List.of() : waiting, seq, config.closeLingerMs());
                return;
            }
            idle.idle(work);
        }
    }

    /** True while {@code peer} still subscribes to this rank's control link (it has not closed). */
    boolean controlLinkConnected(int peer) {
        return control.linkConnected(peer);
    }

    private void usable() {
        if (closed) {
            throw new IllegalStateException(member + ": the collective is closed");
        }
        if (brokenBy != null) {
            throw new CollectiveException(member + ": the collective is unusable after an earlier failure ("
                    + brokenBy.getMessage() + "); close it and open a new one", brokenBy);
        }
    }

    private void checkRoot(int root) {
        if (root < 0 || root >= size) {
            throw new IllegalArgumentException("root must be a rank in [0, " + size + "), was " + root);
        }
    }

    private int positionOf(int someRank) {
        for (int i = 0; i < ringOrder.length; i++) {
            if (ringOrder[i] == someRank) {
                return i;
            }
        }
        throw new IllegalStateException("rank " + someRank + " is not on the ring");
    }

    private String describe(RingOperation op) {
        String length = op.agreedLength() >= 0 ? ", " + op.agreedLength() + " values" : "";
        Ring ring = activeRing;
        String where = ring == null || ring == flat ? "" : ", " + ring.name + " " + java.util.Arrays.toString(ring.order);
        return Wire.opName(op.opType()) + " #" + identity.opSeq + " (epoch " + identity.epoch + ", step "
                + identity.step + length + where + ") on rank " + rank + " of " + size;
    }

    private List<Ring> rings() {
        return hostRing == null ? List.of(flat) : List.of(flat, hostRing, crossRing);
    }

    /**
     * One ring's data link through this rank: frames go to its successor and come from its predecessor. A
     * rank has the flat ring and, for a hierarchical all-reduce, its host's ring and its cross-host ring;
     * each link has its own key and sequence numbers.
     */
    private final class Ring {
        final String name;
        final int[] order;
        final int position;
        final int predecessor;
        final int successor;
        /** Null in a group of one, as are the opener, image and handler. */
        final LinkSender sender;
        final FrameSeal.Opener opener;
        /** Under {@code auth} on a ring of three or more (else null): frames forwarded under their originator's seal. */
        final FrameSeal.ForwardedOpener forwardedOpener;
        final Image image;
        final ControlledFragmentHandler handler;

        Ring(CollectiveBinding.RingLinks links, int frameBytes, WireSecurity security) {
            this.name = links.name;
            this.order = links.order;
            this.position = links.position;
            this.predecessor = links.predecessor;
            this.successor = links.successor;
            if (links.publication == null) {
                sender = null;
                opener = null;
                forwardedOpener = null;
                image = null;
                handler = null;
                return;
            }
            boolean sealed = security != WireSecurity.OFF;
            this.sender = new LinkSender(links.publication, successor, peerDescriptions[successor], frameBytes, counters,
                    sealed ? new FrameSeal.Sealer(security, linkKey(links.link, rank, successor), frameBytes,
                            peerDescriptions[successor]) : null);
            this.opener = sealed ? new FrameSeal.Opener(security, linkKey(links.link, predecessor, rank), frameBytes)
                    : null;
            this.forwardedOpener = security.forwardsSealedFrames(order.length)
                    ? new FrameSeal.ForwardedOpener(security, originatorKeys(links.link, order), frameBytes) : null;
            this.image = links.subscription.imageAtIndex(0);
            this.handler = new ImageControlledFragmentAssembler(
                    // A frame Aeron reassembled lies in the assembler's own buffer; one that fitted a single
                    // Aeron frame lies in the log buffer, whose header names that same buffer.
                    (buffer, offset, length, header) -> onDataFrame(this, buffer, offset, length, buffer != header.buffer()),
                    frameBytes + FrameSeal.trailerLength(security), true);
        }
    }

    /**
     * For each rank of a ring whose frames can reach this rank forwarded (all but this rank and its predecessor),
     * the key of the link it seals them on, to its successor on that ring.
     */
    private byte[][] originatorKeys(int link, int[] order) {
        byte[][] keys = new byte[size][];
        int n = order.length;
        for (int position = 0; position < n; position++) {
            int originator = order[position];
            if (originator != rank && order[(position + 1) % n] != rank) {
                keys[originator] = linkKey(link, originator, order[(position + 1) % n]);
            }
        }
        return keys;
    }

    @Override
    public String toString() {
        return "AeronCollective[" + member + ", ring " + java.util.Arrays.toString(ringOrder) + "]";
    }
}
