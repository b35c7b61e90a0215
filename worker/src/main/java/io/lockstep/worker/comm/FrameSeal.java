package io.lockstep.worker.comm;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;

/**
 * Frame-level protection of one link direction ({@link WireSecurity}): the sender {@link Sealer} stamps
 * each frame with the next link sequence number and appends a 16-byte AES-GCM tag (the payload encrypted
 * in place under {@link WireSecurity#ENCRYPT}); the receiver {@link Opener} accepts a frame only if it
 * carries the next sequence number and its tag verifies. It knows nothing of operations: whatever a
 * collective sends in a frame is covered the same way.
 *
 * <p>One exception, under {@link WireSecurity#AUTHENTICATE} only: the all-gather half of a ring all-reduce
 * sends on frames unchanged, header, payload and tag, as the rank that owns the segment sealed them on its
 * own link ({@link RingAllReduce}); a rank further down the ring checks them with a {@link ForwardedOpener}
 * under the key of that originator's link, requiring the originator's sequence numbers to increase. Such
 * a frame needs no second, per-link tag: the tag already binds its header (job, attempt, epoch, step,
 * operation, chunk, originator), so it can be used only where the operation expects exactly that chunk of
 * that originator (elsewhere the collective refuses it like a forged frame), and only once (increasing sequence
 * numbers); a copy injected on another link carries the very bytes the genuine one does.
 *
 * <p>Wire format of a sealed frame: the {@link FrameHeader} (its link sequence field set by the sealer),
 * the payload, then the 16-byte tag of AES-128-GCM under the link's key ({@link #linkKey}), with the
 * 12-byte nonce = 4 zero bytes and the sequence number as 8 big-endian bytes, the header as additional
 * data and the payload as plaintext. Under {@code encrypt} the payload travels as the GCM ciphertext;
 * under {@code auth} it travels in the clear and the ciphertext is discarded, only the tag is sent.
 * Every {@link SealImplementation} computes exactly these bytes, so ranks using different ones interoperate.
 *
 * <p>Nonces: the sequence number starts at 1 and never wraps, and every link direction of every collective
 * has its own key, so no nonce repeats under a key between genuine frames.
 *
 * <p>Why {@code auth} is GCM with a discarded ciphertext rather than plain GMAC (the whole frame as
 * additional data): an attacker sees less than under ordinary GCM (the plaintext and tag, never the
 * ciphertext), so forging is at least as hard as forging GCM; and both providers buffer additional data
 * in a growing heap array (measured: about twice the frame allocated per frame, and slower), while their
 * encryption paths run in place on the CPU's AES and carry-less-multiply instructions.
 *
 * <p>Where the bytes sit: with Conscrypt ({@link SealImplementation#CONSCRYPT}) the sender runs the cipher
 * over the frame where it wrote it when that memory is a direct buffer (Aeron's log and staging buffers
 * are). The receiver runs it over a frame where it lies only when that memory is the process's own (Aeron's
 * fragment assembler reassembled the frame in its buffer): under {@code auth} it then hands the operation
 * that same frame, under {@code encrypt} the payload decrypted into a private buffer. A frame in Aeron's log
 * buffer, which other processes can write, is copied first, so what was checked is what is used. With the
 * JDK both sides copy the frame into a private array first (the JDK's direct-buffer paths allocate). Apart from
 * {@code Cipher.init}, which allocates under 1.5 KiB per frame, nothing is allocated per frame. Owned by
 * the rank's thread.
 */
final class FrameSeal {
    static final int TAG_LENGTH = 16;
    private static final String BAD_TAG =
            "authentication tag does not verify (forged or altered frame, or a sender with another key)";
    /** Sequence numbers are 32-bit on the wire; a link stops before reusing one. */
    private static final long MAX_SEQUENCE = 0xFFFF_FFFFL;

    private FrameSeal() {
    }

    /** Bytes a sealed frame carries beyond header and payload. */
    static int trailerLength(WireSecurity mode) {
        return mode == WireSecurity.OFF ? 0 : TAG_LENGTH;
    }

    /**
     * The key of frames sent on {@code link} from {@code sender} to {@code receiver}, bound to the job, the
     * stage attempt, the mode and both ends' instance nonces (so a new collective of the same attempt never
     * reuses a key, and nonces start again safely at 1).
     */
    static byte[] linkKey(JobSecret secret, String jobId, long stageAttempt, WireSecurity mode, int link,
                          Endpoint sender, Endpoint receiver) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeUTF("lockstep frame key");
            byte[] job = jobId.getBytes(StandardCharsets.UTF_8);
            out.writeInt(job.length);
            out.write(job);
            out.writeLong(stageAttempt);
            out.writeByte(mode.ordinal());
            out.writeByte(link);
            out.writeInt(sender.rank());
            out.writeInt(receiver.rank());
            out.writeLong(sender.instance());
            out.writeLong(receiver.instance());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return secret.linkKey(bytes.toByteArray());
    }

    private static void nonce(byte[] iv, long sequence) {
        for (int i = 0; i < 8; i++) {
            iv[11 - i] = (byte) (sequence >>> (8 * i));
        }
    }

    private static Gcm newGcm(SealImplementation implementation, WireSecurity mode, int maxFrameLength) {
        return implementation == SealImplementation.CONSCRYPT
                ? new DirectGcm(implementation, mode, maxFrameLength)
                : new HeapGcm(implementation, mode, maxFrameLength);
    }

    /** Seals the frames this rank sends on one link. */
    static final class Sealer {
        private final Gcm gcm;
        private final SecretKeySpec key;
        private final byte[] iv = new byte[12];
        private final String peerDescription;
        private long sequence;

        /** Seals with {@link SealImplementation#inForce()}. */
        Sealer(WireSecurity mode, byte[] key, int maxFrameLength, String peerDescription) {
            this(mode, key, maxFrameLength, peerDescription, SealImplementation.inForce());
        }

        Sealer(WireSecurity mode, byte[] key, int maxFrameLength, String peerDescription,
               SealImplementation implementation) {
            if (mode == WireSecurity.OFF) {
                throw new IllegalArgumentException("nothing to seal with wire security off");
            }
            this.gcm = newGcm(implementation, mode, maxFrameLength);
            this.key = new SecretKeySpec(key, "AES");
            this.peerDescription = peerDescription;
        }

        /**
         * Seals the frame of {@code frameLength} bytes (header and payload) at {@code offset}: writes its
         * sequence number into the header and the tag right after it, which the caller has room for.
         *
         * @return the sealed frame's length
         */
        int seal(MutableDirectBuffer buffer, int offset, int frameLength) {
            if (sequence == MAX_SEQUENCE) {
                throw new CollectiveException("the link to " + peerDescription + " has sealed " + MAX_SEQUENCE
                        + " frames, all its sequence numbers: open a new collective (it gets new keys)");
            }
            sequence++;
            FrameHeader.putLinkSequence(buffer, offset, (int) sequence);
            nonce(iv, sequence);
            try {
                gcm.seal(buffer, offset, frameLength, key, iv);
            } catch (GeneralSecurityException e) {
                throw new CollectiveException("cannot seal a frame for " + peerDescription + ": " + e, e);
            }
            return frameLength + TAG_LENGTH;
        }
    }

    /**
     * What both openers share: the length check, the cipher run over a frame under a given key and sequence
     * number, and where the accepted frame lies. {@link #consume()} takes the last opened frame's sequence
     * number, once the caller has taken the frame (a frame the caller defers is opened again later).
     */
    abstract static class FrameOpener {
        private final Gcm gcm;
        private final byte[] iv = new byte[12];
        private final int maxSealedLength;
        private SecretKeySpec lastTagKey;
        private long lastTagSequence;
        private int openedLength;

        FrameOpener(WireSecurity mode, int maxFrameLength, SealImplementation implementation) {
            if (mode == WireSecurity.OFF) {
                throw new IllegalArgumentException("nothing to open with wire security off");
            }
            this.gcm = newGcm(implementation, mode, maxFrameLength);
            this.maxSealedLength = maxFrameLength + TAG_LENGTH;
        }

        /** Null when a sealed frame can have {@code length} bytes, else why not. */
        final String impossibleLength(int length) {
            if (length < FrameHeader.LENGTH + TAG_LENGTH || length > maxSealedLength) {
                return "a sealed frame of " + length + " bytes is impossible (header " + FrameHeader.LENGTH
                        + ", tag " + TAG_LENGTH + ", at most " + maxSealedLength + ")";
            }
            return null;
        }

        /**
         * Verifies (and under {@code encrypt} decrypts) the frame sealed under {@code key} with {@code sequence};
         * see {@link Opener#open(DirectBuffer, int, int, boolean)} for where the bytes are checked.
         *
         * @return null when it is authentic, else why it was refused
         */
        final String verify(SecretKeySpec key, long sequence, DirectBuffer buffer, int offset, int length,
                            boolean privateMemory) {
            nonce(iv, sequence);
            boolean authentic;
            try {
                if (gcm.mode == WireSecurity.AUTHENTICATE) {
                    if (sequence == lastTagSequence && key == lastTagKey) {
                        // Both implementations refuse two encryptions in a row under one nonce, a guard for
                        // senders; here the same frame is only checked again (deferred, or a forgery came
                        // first), and nothing is revealed: step to another nonce first.
                        iv[0] = 1;
                        gcm.init(Cipher.ENCRYPT_MODE, key, iv);
                        iv[0] = 0;
                    }
                    lastTagKey = key;
                    lastTagSequence = sequence;
                }
                authentic = gcm.open(buffer, offset, length, key, iv, privateMemory);
            } catch (AEADBadTagException e) {
                return BAD_TAG;
            } catch (GeneralSecurityException e) {
                return "cannot open the frame: " + e;
            }
            if (!authentic) {
                return BAD_TAG;
            }
            openedLength = length - TAG_LENGTH;
            return null;
        }

        /**
         * The buffer holding the last opened frame: the caller's own (see {@link Opener#open}) or a private one,
         * valid until the next open. Under {@code auth} the frame's tag follows it there.
         */
        final DirectBuffer buffer() {
            return gcm.opened;
        }

        /** Where the last opened frame starts in {@link #buffer()}. */
        final int frameOffset() {
            return gcm.openedOffset;
        }

        final int frameLength() {
            return openedLength;
        }

        /** Takes the last opened frame's sequence number: that frame can never be accepted again. */
        abstract void consume();
    }

    /** Opens the frames this rank's predecessor sealed on one link: each must carry the next sequence number. */
    static final class Opener extends FrameOpener {
        private final SecretKeySpec key;
        private long lastSequence;
        private long openedSequence;

        /** Opens with {@link SealImplementation#inForce()}. */
        Opener(WireSecurity mode, byte[] key, int maxFrameLength) {
            this(mode, key, maxFrameLength, SealImplementation.inForce());
        }

        Opener(WireSecurity mode, byte[] key, int maxFrameLength, SealImplementation implementation) {
            super(mode, maxFrameLength, implementation);
            this.key = new SecretKeySpec(key, "AES");
        }

        /**
         * Verifies the sealed frame of {@code length} bytes at {@code offset}, which lies in memory other
         * processes may write (an Aeron log buffer): it is verified and opened in a private copy.
         *
         * @return null when it is authentic and next in sequence (then {@link #buffer()} holds the opened
         *         frame at {@link #frameOffset()}, {@link #frameLength()} bytes without the tag), else why it
         *         was refused
         */
        String open(DirectBuffer buffer, int offset, int length) {
            return open(buffer, offset, length, false);
        }

        /**
         * As {@link #open(DirectBuffer, int, int)}; when {@code privateMemory} says that only this process
         * writes the frame's bytes (Aeron's fragment assembler reassembled it in its own buffer), an
         * authenticated frame is verified where it lies ({@code auth} over a direct buffer with Conscrypt)
         * and the opened frame is those very bytes: the caller keeps them unchanged until it has used them,
         * as the assembler does until the fragment handler returns. Frames in shared memory are copied
         * first, so that no other process can change a byte between its verification and its use.
         */
        String open(DirectBuffer buffer, int offset, int length, boolean privateMemory) {
            String impossible = impossibleLength(length);
            if (impossible != null) {
                return impossible;
            }
            long sequence = Integer.toUnsignedLong(FrameHeader.linkSequence(buffer, offset));
            if (sequence != lastSequence + 1) {
                String expected = " (link sequence " + sequence + ", next expected " + (lastSequence + 1) + ")";
                return sequence <= lastSequence ? "replayed or reordered frame" + expected
                        : "frame out of sequence" + expected;
            }
            String refusal = verify(key, sequence, buffer, offset, length, privateMemory);
            if (refusal == null) {
                openedSequence = sequence;
            }
            return refusal;
        }

        @Override
        void consume() {
            lastSequence = openedSequence;
        }
    }

    /**
     * Opens the frames the predecessor forwards unchanged, each sealed by the rank that originated it on that
     * rank's own link of the ring ({@link RingAllReduce}'s all-gather under {@code auth}): a frame is checked
     * under the key of its originator's link, and each originator's sequence numbers must increase. They skip
     * the numbers of the originator's frames that were not forwarded this far; the frame's place in the
     * operation, which its header fixes, is checked by the operation.
     */
    static final class ForwardedOpener extends FrameOpener {
        private final SecretKeySpec[] keys;
        private final long[] lastSequence;
        private int openedOriginator;
        private long openedSequence;

        /**
         * @param keysByRank the key of the link each rank that may originate a forwarded frame seals on, null
         *                   for the others (this rank and its predecessor)
         */
        ForwardedOpener(WireSecurity mode, byte[][] keysByRank, int maxFrameLength) {
            this(mode, keysByRank, maxFrameLength, SealImplementation.inForce());
        }

        ForwardedOpener(WireSecurity mode, byte[][] keysByRank, int maxFrameLength,
                        SealImplementation implementation) {
            super(mode, maxFrameLength, implementation);
            this.keys = new SecretKeySpec[keysByRank.length];
            for (int rank = 0; rank < keysByRank.length; rank++) {
                keys[rank] = keysByRank[rank] == null ? null : new SecretKeySpec(keysByRank[rank], "AES");
            }
            this.lastSequence = new long[keysByRank.length];
        }

        /** True when frames that {@code rank} originated may reach this rank forwarded. */
        boolean forwardsFrom(int rank) {
            return rank >= 0 && rank < keys.length && keys[rank] != null;
        }

        /**
         * As {@link Opener#open(DirectBuffer, int, int, boolean)}, for a frame whose header names
         * {@code originator} as its sender (which {@link #forwardsFrom} accepts).
         */
        String open(int originator, DirectBuffer buffer, int offset, int length, boolean privateMemory) {
            String impossible = impossibleLength(length);
            if (impossible != null) {
                return impossible;
            }
            long sequence = Integer.toUnsignedLong(FrameHeader.linkSequence(buffer, offset));
            if (sequence <= lastSequence[originator]) {
                return "replayed or reordered frame forwarded from rank " + originator + " (its link sequence "
                        + sequence + ", already past " + lastSequence[originator] + ")";
            }
            String refusal = verify(keys[originator], sequence, buffer, offset, length, privateMemory);
            if (refusal == null) {
                openedOriginator = originator;
                openedSequence = sequence;
            }
            return refusal;
        }

        @Override
        void consume() {
            lastSequence[openedOriginator] = openedSequence;
        }
    }

    /**
     * AES-GCM over frames under one link key, as the wire format prescribes: the header is the additional
     * data, the payload the plaintext, the 16-byte tag follows the payload; under {@link WireSecurity#ENCRYPT}
     * the payload travels encrypted, under {@link WireSecurity#AUTHENTICATE} in the clear (the ciphertext
     * is computed and discarded). The subclasses differ only in where the bytes sit while the cipher runs.
     */
    private abstract static class Gcm {
        final WireSecurity mode;
        final Cipher cipher;
        /** Where the last frame {@link #open} accepted lies, opened. */
        DirectBuffer opened;
        int openedOffset;

        Gcm(SealImplementation implementation, WireSecurity mode) {
            this.mode = mode;
            this.cipher = implementation.newCipher();
        }

        final void init(int cipherMode, SecretKeySpec key, byte[] iv) throws GeneralSecurityException {
            cipher.init(cipherMode, key, new GCMParameterSpec(TAG_LENGTH * 8, iv));
        }

        /** Seals the frame in place: appends the tag (and encrypts the payload under ENCRYPT). */
        abstract void seal(MutableDirectBuffer buffer, int offset, int frameLength, SecretKeySpec key, byte[] iv)
                throws GeneralSecurityException;

        /**
         * Verifies the sealed frame and, under ENCRYPT, decrypts its payload; when it is authentic, sets
         * {@link #opened} and {@link #openedOffset} to where the opened frame lies.
         *
         * @return false when the tag does not verify (ENCRYPT may throw {@link AEADBadTagException} instead)
         */
        abstract boolean open(DirectBuffer buffer, int offset, int length, SecretKeySpec key, byte[] iv,
                              boolean privateMemory) throws GeneralSecurityException;

        final void openedAt(DirectBuffer buffer, int offset) {
            opened = buffer;
            openedOffset = offset;
        }

        static boolean tagsEqual(DirectBuffer a, int aOffset, DirectBuffer b, int bOffset) {
            int difference = 0;
            for (int i = 0; i < TAG_LENGTH; i++) {
                difference |= a.getByte(aOffset + i) ^ b.getByte(bOffset + i);
            }
            return difference == 0;
        }
    }

    /**
     * The JDK's provider over private heap arrays: its direct-buffer paths allocate per call, and it
     * buffers additional data, so the frame is copied into an array and the payload is the plaintext.
     */
    private static final class HeapGcm extends Gcm {
        private final byte[] in;
        private final byte[] out;
        private final UnsafeBuffer inView;
        private final UnsafeBuffer outView;

        HeapGcm(SealImplementation implementation, WireSecurity mode, int maxFrameLength) {
            super(implementation, mode);
            this.in = new byte[maxFrameLength + TAG_LENGTH];
            this.out = new byte[maxFrameLength + TAG_LENGTH];
            this.inView = new UnsafeBuffer(in);
            this.outView = new UnsafeBuffer(out);
        }

        @Override
        void seal(MutableDirectBuffer buffer, int offset, int frameLength, SecretKeySpec key, byte[] iv)
                throws GeneralSecurityException {
            buffer.getBytes(offset, in, 0, frameLength);
            init(Cipher.ENCRYPT_MODE, key, iv);
            cipher.updateAAD(in, 0, FrameHeader.LENGTH);
            int payload = frameLength - FrameHeader.LENGTH;
            cipher.doFinal(in, FrameHeader.LENGTH, payload, out, 0);
            if (mode == WireSecurity.AUTHENTICATE) {
                buffer.putBytes(offset + frameLength, out, payload, TAG_LENGTH);
            } else {
                buffer.putBytes(offset + FrameHeader.LENGTH, out, 0, payload + TAG_LENGTH);
            }
        }

        /** Verifies a private copy and hands that on. */
        @Override
        boolean open(DirectBuffer buffer, int offset, int length, SecretKeySpec key, byte[] iv,
                     boolean privateMemory) throws GeneralSecurityException {
            buffer.getBytes(offset, in, 0, length);
            int frameLength = length - TAG_LENGTH;
            if (mode == WireSecurity.AUTHENTICATE) {
                init(Cipher.ENCRYPT_MODE, key, iv);
                cipher.updateAAD(in, 0, FrameHeader.LENGTH);
                int payload = frameLength - FrameHeader.LENGTH;
                cipher.doFinal(in, FrameHeader.LENGTH, payload, out, 0);
                if (!tagsEqual(outView, payload, inView, frameLength)) {
                    return false;
                }
                openedAt(inView, 0);
                return true;
            }
            init(Cipher.DECRYPT_MODE, key, iv);
            cipher.updateAAD(in, 0, FrameHeader.LENGTH);
            cipher.doFinal(in, FrameHeader.LENGTH, length - FrameHeader.LENGTH, out, FrameHeader.LENGTH);
            System.arraycopy(in, 0, out, 0, FrameHeader.LENGTH);
            openedAt(outView, 0);
            return true;
        }
    }

    /**
     * Conscrypt's provider over direct buffers, which it hands to BoringSSL by address: the sender runs the
     * cipher straight over the frame where it lies (Aeron's claimed log buffer or staging buffer) whenever
     * that memory is a direct {@link ByteBuffer}, the receiver only when it is also the process's own memory
     * (the fragment assembler's buffer), else over a private copy. An authenticated frame is handed on where it was
     * verified; an encrypted one is decrypted into a private buffer, never over the caller's bytes (BoringSSL
     * writes the plaintext before it has checked the tag, and a deferred frame is opened again).
     */
    private static final class DirectGcm extends Gcm {
        private final ByteBuffer in;
        private final ByteBuffer out;
        private final UnsafeBuffer inView;
        private final UnsafeBuffer outView;
        /** Duplicates of the caller's direct buffers, so their positions are ours to set (Aeron rotates 3 terms). */
        private final ByteBuffer[] sources = new ByteBuffer[4];
        private final ByteBuffer[] views = new ByteBuffer[4];
        private int nextSlot;

        DirectGcm(SealImplementation implementation, WireSecurity mode, int maxFrameLength) {
            super(implementation, mode);
            this.in = ByteBuffer.allocateDirect(maxFrameLength + TAG_LENGTH);
            this.out = ByteBuffer.allocateDirect(maxFrameLength + TAG_LENGTH);
            this.inView = new UnsafeBuffer(in);
            this.outView = new UnsafeBuffer(out);
        }

        /** A view of the direct buffer {@code buffer} wraps, or null when it wraps an array or a bare address. */
        private ByteBuffer viewOf(DirectBuffer buffer) {
            ByteBuffer source = buffer.byteBuffer();
            if (source == null || !source.isDirect()) {
                return null;
            }
            for (int i = 0; i < sources.length; i++) {
                if (sources[i] == source) {
                    return views[i];
                }
            }
            int slot = nextSlot;
            nextSlot = (nextSlot + 1) % sources.length;
            sources[slot] = source;
            views[slot] = source.duplicate();
            return views[slot];
        }

        @Override
        void seal(MutableDirectBuffer buffer, int offset, int frameLength, SecretKeySpec key, byte[] iv)
                throws GeneralSecurityException {
            ByteBuffer frame = viewOf(buffer);
            int base;
            if (frame == null) {
                buffer.getBytes(offset, inView, 0, frameLength);
                frame = in;
                base = 0;
            } else {
                base = buffer.wrapAdjustment() + offset;
            }
            init(Cipher.ENCRYPT_MODE, key, iv);
            frame.limit(base + FrameHeader.LENGTH).position(base);
            cipher.updateAAD(frame);
            frame.limit(base + frameLength).position(base + FrameHeader.LENGTH);
            out.clear();
            cipher.doFinal(frame, out);
            int payload = frameLength - FrameHeader.LENGTH;
            if (mode == WireSecurity.AUTHENTICATE) {
                buffer.putBytes(offset + frameLength, outView, payload, TAG_LENGTH);
            } else {
                buffer.putBytes(offset + FrameHeader.LENGTH, outView, 0, payload + TAG_LENGTH);
            }
        }

        @Override
        boolean open(DirectBuffer buffer, int offset, int length, SecretKeySpec key, byte[] iv,
                     boolean privateMemory) throws GeneralSecurityException {
            ByteBuffer frame = privateMemory ? viewOf(buffer) : null;
            DirectBuffer source;
            int sourceOffset;
            int base;
            if (frame == null) {
                buffer.getBytes(offset, inView, 0, length);
                frame = in;
                source = inView;
                sourceOffset = 0;
                base = 0;
            } else {
                source = buffer;
                sourceOffset = offset;
                base = buffer.wrapAdjustment() + offset;
            }
            int frameLength = length - TAG_LENGTH;
            frame.limit(base + FrameHeader.LENGTH).position(base);
            out.clear();
            if (mode == WireSecurity.AUTHENTICATE) {
                init(Cipher.ENCRYPT_MODE, key, iv);
                cipher.updateAAD(frame);
                frame.limit(base + frameLength).position(base + FrameHeader.LENGTH);
                cipher.doFinal(frame, out);
                if (!tagsEqual(outView, frameLength - FrameHeader.LENGTH, source, sourceOffset + frameLength)) {
                    return false;
                }
                openedAt(source, sourceOffset);
                return true;
            }
            // The header is authenticated from the private copy the operation will read, so no byte of the
            // opened frame is read twice from the caller's memory.
            outView.putBytes(0, source, sourceOffset, FrameHeader.LENGTH);
            out.limit(FrameHeader.LENGTH);
            init(Cipher.DECRYPT_MODE, key, iv);
            cipher.updateAAD(out);
            out.limit(out.capacity());
            frame.limit(base + length).position(base + FrameHeader.LENGTH);
            cipher.doFinal(frame, out);
            openedAt(outView, 0);
            return true;
        }
    }
}
