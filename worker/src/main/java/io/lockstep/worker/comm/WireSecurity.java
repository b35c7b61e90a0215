package io.lockstep.worker.comm;

/**
 * What protects the frames of a collective on the wire. Every rank of a group must use the same mode:
 * a rank that seals frames refuses unsealed ones and the other way round, so a mismatch shows as
 * rejected frames and a timeout naming the peer.
 */
public enum WireSecurity {
    /** No protection beyond session ids derived from the job secret; only for trusted, isolated networks. */
    OFF("off"),
    /**
     * Every frame carries a 16-byte authentication tag (AES-GCM's, under a per-link, per-collective key,
     * see {@link FrameSeal} for the exact form and {@link SealImplementation} for who computes it) over its
     * header and payload, and a per-link sequence number: forged, altered, replayed and
     * reordered frames are refused and counted. Payloads travel in the clear.
     */
    AUTHENTICATE("auth"),
    /** {@link #AUTHENTICATE} plus AES-GCM encryption of every payload (headers stay readable, still authenticated). */
    ENCRYPT("encrypt");

    private final String optionName;

    WireSecurity(String optionName) {
        this.optionName = optionName;
    }

    /** The name used in options, logs and run summaries: {@code off}, {@code auth} or {@code encrypt}. */
    public String optionName() {
        return optionName;
    }

    /**
     * True when a ring all-reduce of {@code ringSize} ranks under this mode sends its all-gather frames on under
     * the seal of the rank that originated them instead of sealing them again at every hop ({@link FrameSeal}):
     * under {@link #AUTHENTICATE}, on rings of three or more. Under {@link #ENCRYPT} every hop re-encrypts.
     */
    public boolean forwardsSealedFrames(int ringSize) {
        return this == AUTHENTICATE && ringSize >= 3;
    }

    /** Parses {@link #optionName()}. @throws IllegalArgumentException listing the valid names */
    public static WireSecurity parse(String name) {
        for (WireSecurity mode : values()) {
            if (mode.optionName.equals(name)) {
                return mode;
            }
        }
        throw new IllegalArgumentException("unknown wire security '" + name + "': use off, auth or encrypt");
    }
}
