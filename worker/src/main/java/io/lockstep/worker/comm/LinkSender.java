package io.lockstep.worker.comm;

import io.aeron.ExclusivePublication;
import io.aeron.Publication;
import io.aeron.logbuffer.BufferClaim;
import org.agrona.BufferUtil;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Sends frames on one link without allocating: frames that fit one Aeron frame are written in place
 * with {@code tryClaim}; larger ones are staged in a pre-allocated buffer and {@code offer}ed (Aeron
 * fragments them). Every publication result is handled: back pressure and admin actions are retried by
 * the caller's loop, {@code NOT_CONNECTED} is remembered for the timeout report, a closed publication
 * or exhausted stream fails at once.
 *
 * <p>Usage per frame: {@link #begin(int)}; if true, write the frame at {@link #buffer()}/{@link #offset()},
 * then {@link #commit(int)}. A staged frame still waiting for room is retried by {@link #flush()};
 * {@link #begin(int)} refuses new frames until it has gone. Lengths passed in are of header and payload;
 * with a {@link FrameSeal.Sealer} every frame is sealed on commit, which adds its tag. Owned by one thread.
 */
final class LinkSender {
    private final ExclusivePublication publication;
    private final int peerRank;
    private final String peerDescription;
    private final TrafficCounters counters;
    private final FrameSeal.Sealer sealer;
    private final int trailerLength;
    private final BufferClaim claim = new BufferClaim();
    private final UnsafeBuffer staging;
    private final int maxClaimLength;
    private MutableDirectBuffer buffer;
    private int offset;
    private boolean claimed;
    private int pendingLength;
    private boolean pendingForwarded;
    private boolean notConnected;

    /**
     * @param maxFrameLength largest header plus payload
     * @param sealer         seals every frame, or null to send them as written
     */
    LinkSender(ExclusivePublication publication, int peerRank, String peerDescription, int maxFrameLength,
               TrafficCounters counters, FrameSeal.Sealer sealer) {
        this.publication = publication;
        this.peerRank = peerRank;
        this.peerDescription = peerDescription;
        this.counters = counters;
        this.sealer = sealer;
        this.trailerLength = sealer == null ? 0 : FrameSeal.TAG_LENGTH;
        maxFrameLength += trailerLength;
        this.maxClaimLength = publication.maxPayloadLength();
        this.staging = maxFrameLength > maxClaimLength
                ? new UnsafeBuffer(BufferUtil.allocateDirectAligned(align(maxFrameLength), 64))
                : null;
    }

    private static int align(int length) {
        return (length + 63) & ~63;
    }

    /** Reserves room for a frame of {@code length} bytes; false when the link is full (retry later). */
    boolean begin(int frameLength) {
        if (pendingLength > 0) {
            return false;
        }
        int length = frameLength + trailerLength;
        if (length <= maxClaimLength) {
            long result = publication.tryClaim(length, claim);
            if (result > 0) {
                notConnected = false;
                buffer = claim.buffer();
                offset = claim.offset();
                claimed = true;
                return true;
            }
            handleRefusal(result);
            return false;
        }
        if (staging == null || length > staging.capacity()) {
            throw new IllegalStateException("frame of " + length + " bytes exceeds this link's largest frame");
        }
        buffer = staging;
        offset = 0;
        claimed = false;
        return true;
    }

    MutableDirectBuffer buffer() {
        return buffer;
    }

    int offset() {
        return offset;
    }

    /** Publishes the frame written since {@link #begin(int)}; a staged frame may stay pending. */
    void commit(int frameLength) {
        publish(sealer == null ? frameLength : sealer.seal(buffer, offset, frameLength), false);
    }

    /**
     * Publishes a sealed frame written since {@link #begin(int)} as another rank sealed it: header, payload
     * and that rank's tag, forwarded unchanged ({@link FrameSeal.ForwardedOpener} checks it downstream).
     */
    void commitForwarded(int frameLength) {
        if (sealer == null) {
            throw new IllegalStateException("only sealed links forward sealed frames");
        }
        publish(frameLength + trailerLength, true);
    }

    private void publish(int length, boolean forwarded) {
        if (claimed) {
            claim.commit();
            counted(length, forwarded);
        } else {
            pendingLength = length;
            pendingForwarded = forwarded;
            flush();
        }
    }

    /** Retries a staged frame; returns 1 when it went out now, else 0. */
    int flush() {
        if (pendingLength == 0) {
            return 0;
        }
        long result = publication.offer(staging, 0, pendingLength);
        if (result > 0) {
            notConnected = false;
            counted(pendingLength, pendingForwarded);
            pendingLength = 0;
            return 1;
        }
        handleRefusal(result);
        return 0;
    }

    boolean hasPending() {
        return pendingLength > 0;
    }

    /** True when the last attempt found no subscriber: the peer is gone or not yet there. */
    boolean sawNotConnected() {
        return notConnected;
    }

    boolean isConnected() {
        return publication.isConnected();
    }

    int peerRank() {
        return peerRank;
    }

    String peerDescription() {
        return peerDescription;
    }

    private void counted(int length, boolean forwarded) {
        counters.framesSent++;
        counters.bytesSent += length;
        if (forwarded) {
            counters.forwardedFrames++;
        }
    }

    private void handleRefusal(long result) {
        if (result == Publication.BACK_PRESSURED || result == Publication.ADMIN_ACTION) {
            counters.backPressureEvents++;
        } else if (result == Publication.NOT_CONNECTED) {
            notConnected = true;
        } else if (result == Publication.CLOSED) {
            throw new CollectiveException("the publication to " + peerDescription
                    + " is closed: the collective was closed while an operation was running");
        } else if (result == Publication.MAX_POSITION_EXCEEDED) {
            throw new CollectiveException("the stream to " + peerDescription + " reached Aeron's maximum position; "
                    + "open a new collective (or raise termLengthBytes, which raises the limit)");
        } else {
            throw new CollectiveException("unexpected Aeron publication result " + result + " on the link to "
                    + peerDescription);
        }
    }
}
