package io.lockstep.worker.comm;

import io.aeron.ExclusivePublication;
import io.aeron.Image;
import io.aeron.Publication;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.FragmentHandler;
import io.aeron.logbuffer.Header;
import org.agrona.DirectBuffer;

/**
 * The control links between every pair of ranks: small frames announcing that a rank entered an
 * operation, is alive inside it (heartbeat) or finished it. They make the barrier, let every rank
 * check that all ranks run the same operation with the same length, and tell a rank that gives up
 * which peers never arrived or went silent.
 *
 * <p>Arrival announcements must get through (the barrier depends on them) and are retried until they
 * do; heartbeats and completions are best effort. Owned by the rank's thread.
 */
final class ControlPlane {
    /** Receives what the control plane cannot judge alone. */
    interface Listener {
        /** A peer's control frame was recorded in the tracker. */
        void onPeerState(int rank);

        /** A frame was dropped: another job or attempt, or malformed. */
        void onRejected(int linkPeer, FrameHeader header, int length, String reason);

        /** A frame failed {@link FrameSeal} authentication; {@code source} is the address it came from. */
        void onUnauthentic(int linkPeer, String source, int length, String reason);
    }

    private static final int FRAGMENT_LIMIT = 16;

    private final OpIdentity identity;
    private final PeerTracker peers;
    private final TrafficCounters counters;
    private final Listener listener;
    private final ExclusivePublication[] publications;
    private final Image[] images;
    private final String[] peerDescriptions;
    private final FrameSeal.Sealer[] sealers;
    private final FrameSeal.Opener[] openers;
    private final int frameLength;
    private final BufferClaim claim = new BufferClaim();
    private final FrameHeader tx = new FrameHeader();
    private final FrameHeader rx = new FrameHeader();
    private final boolean[] arrivalPending;
    private final boolean[] completionPending;
    private final FragmentHandler handler = this::onFrame;
    private final boolean[] notConnected;
    private int pollingPeer;
    private long nowNs;
    private byte opType;
    private int opLength;
    private int root;

    ControlPlane(OpIdentity identity, PeerTracker peers, TrafficCounters counters, Listener listener,
                 ExclusivePublication[] publications, Image[] images, String[] peerDescriptions,
                 FrameSeal.Sealer[] sealers, FrameSeal.Opener[] openers) {
        this.identity = identity;
        this.peers = peers;
        this.counters = counters;
        this.listener = listener;
        this.publications = publications;
        this.images = images;
        this.peerDescriptions = peerDescriptions;
        this.sealers = sealers;
        this.openers = openers;
        this.frameLength = FrameHeader.LENGTH + (sealers == null ? 0 : FrameSeal.TAG_LENGTH);
        this.arrivalPending = new boolean[publications.length];
        this.completionPending = new boolean[publications.length];
        this.notConnected = new boolean[publications.length];
    }

    /** Announces entry into the current operation to every peer (retried by {@link #flush()}). */
    void announceArrival(byte opType, int opLength, int root) {
        this.opType = opType;
        this.opLength = opLength;
        this.root = root;
        for (int rank = 0; rank < publications.length; rank++) {
            if (publications[rank] != null) {
                completionPending[rank] = false; // entering op k+1 implies k is done
                arrivalPending[rank] = !send(rank, Wire.PHASE_ARRIVED, Wire.NO_RANK);
            }
        }
    }

    /** Tells every peer this rank is alive inside the current operation, waiting for {@code waitingFor}. */
    void heartbeat(int waitingFor) {
        for (int rank = 0; rank < publications.length; rank++) {
            if (publications[rank] != null && !arrivalPending[rank]) {
                send(rank, Wire.PHASE_WAITING, waitingFor);
            }
        }
    }

    /** Tells every peer this rank finished the current operation (best effort, retried by {@link #flush()}). */
    void announceCompletion() {
        for (int rank = 0; rank < publications.length; rank++) {
            if (publications[rank] != null) {
                completionPending[rank] = arrivalPending[rank] || !send(rank, Wire.PHASE_DONE, Wire.NO_RANK);
            }
        }
    }

    /**
     * Tells every peer this rank gave up on the current operation, blaming {@code culprit} for
     * {@code reason}: one attempt per peer, never throwing (the rank is already failing).
     */
    void announceAbort(int culprit, int reason) {
        this.root = reason;
        for (int rank = 0; rank < publications.length; rank++) {
            if (publications[rank] != null) {
                arrivalPending[rank] = false;
                completionPending[rank] = false;
                try {
                    send(rank, Wire.PHASE_ABORTED, culprit);
                } catch (RuntimeException e) {
                    // The link is closed: that peer will learn from its own deadline.
                }
            }
        }
    }

    /** Retries announcements that found a link full; returns how many went out. */
    int flush() {
        int work = 0;
        for (int rank = 0; rank < publications.length; rank++) {
            if (arrivalPending[rank]) {
                if (send(rank, Wire.PHASE_ARRIVED, Wire.NO_RANK)) {
                    arrivalPending[rank] = false;
                    work++;
                }
            }
            if (completionPending[rank] && !arrivalPending[rank]) {
                if (send(rank, Wire.PHASE_DONE, Wire.NO_RANK)) {
                    completionPending[rank] = false;
                    work++;
                }
            }
        }
        return work;
    }

    /** True while some peer has not yet been told that this rank entered the current operation. */
    boolean arrivalPending(int rank) {
        return arrivalPending[rank];
    }

    /**
     * True while an announcement still awaits a peer that can hear it. A peer whose stream ended has
     * closed (or died): its subscription is gone, so the send can never succeed and nothing waits for it.
     */
    boolean anyAnnouncementPending() {
        for (int rank = 0; rank < publications.length; rank++) {
            if ((arrivalPending[rank] || completionPending[rank]) && !streamEnded(rank)) {
                return true;
            }
        }
        return false;
    }

    /** True while {@code rank}'s subscription to this rank's control link is there. */
    boolean linkConnected(int rank) {
        return publications[rank].isConnected();
    }

    /** True when the last send to {@code rank} found no subscriber. */
    boolean sawNotConnected(int rank) {
        return notConnected[rank];
    }

    /** Reads pending control frames from every peer; returns the number of frames. */
    int poll(long nowNs) {
        this.nowNs = nowNs;
        int frames = 0;
        for (int rank = 0; rank < images.length; rank++) {
            Image image = images[rank];
            if (image != null) {
                pollingPeer = rank;
                frames += image.poll(handler, FRAGMENT_LIMIT);
            }
        }
        return frames;
    }

    /** True when the peer's control stream ended (it closed) or its image was lost (it died). */
    boolean streamEnded(int rank) {
        Image image = images[rank];
        return image != null && (image.isClosed() || image.isEndOfStream());
    }

    private boolean send(int rank, byte phase, int waitingFor) {
        ExclusivePublication publication = publications[rank];
        long result = publication.tryClaim(frameLength, claim);
        if (result > 0) {
            notConnected[rank] = false;
            identity.stamp(tx.wrap(claim.buffer(), claim.offset()), FrameHeader.TYPE_CONTROL, opType,
                    Wire.ENCODING_NONE).writeControl(phase, waitingFor, root, opLength);
            if (sealers != null) {
                try {
                    sealers[rank].seal(claim.buffer(), claim.offset(), FrameHeader.LENGTH);
                } catch (RuntimeException e) {
                    claim.abort();
                    throw e;
                }
            }
            claim.commit();
            counters.framesSent++;
            counters.bytesSent += frameLength;
            return true;
        }
        if (result == Publication.BACK_PRESSURED || result == Publication.ADMIN_ACTION) {
            counters.backPressureEvents++;
            return false;
        }
        if (result == Publication.NOT_CONNECTED) {
            notConnected[rank] = true;
            return false;
        }
        if (result == Publication.CLOSED) {
            throw new CollectiveException("the control link to " + peerDescriptions[rank]
                    + " is closed: the collective was closed while an operation was running");
        }
        throw new CollectiveException("unexpected Aeron publication result " + result + " on the control link to "
                + peerDescriptions[rank]);
    }

    private void onFrame(DirectBuffer buffer, int offset, int length, Header aeronHeader) {
        int peer = pollingPeer;
        if (openers != null) {
            FrameSeal.Opener opener = openers[peer];
            String refusal = opener.open(buffer, offset, length);
            if (refusal != null) {
                listener.onUnauthentic(peer, images[peer].sourceIdentity(), length, refusal);
                return;
            }
            opener.consume();
            buffer = opener.buffer();
            offset = opener.frameOffset();
            length = opener.frameLength();
        } else if (length >= FrameHeader.LENGTH && FrameHeader.linkSequence(buffer, offset) != 0) {
            listener.onRejected(peer, null, length, "sealed frame, but this rank has wire security off: every rank "
                    + "must use the same wireSecurity");
            return;
        }
        if (length < FrameHeader.LENGTH) {
            listener.onRejected(peer, null, length, "control frame shorter than the header");
            return;
        }
        FrameHeader header = rx.wrap(buffer, offset);
        if (header.magic() != FrameHeader.MAGIC || header.frameType() != FrameHeader.TYPE_CONTROL) {
            listener.onRejected(peer, null, length, "not a Lockstep control frame");
            return;
        }
        if (header.jobHash() != identity.jobHash || header.stageAttempt() != identity.stageAttempt) {
            listener.onRejected(peer, header, length, "frame of another job or stage attempt");
            return;
        }
        if (header.sender() != peer) {
            listener.onRejected(peer, header, length, "frame claims to come from rank " + header.sender());
            return;
        }
        counters.framesReceived++;
        counters.bytesReceived += length;
        peers.update(peer, header.opSeq(), header.phase(), header.opType(), header.opLength(), header.root(),
                header.waitingFor(), nowNs);
        listener.onPeerState(peer);
    }
}
