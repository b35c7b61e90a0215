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
 * over the frame where it was written when that memory is a direct buffer (Aeron's log and staging
 * buffers are), and the receiver over a private direct copy; with the JDK both sides copy the frame into
 * a private array first (the JDK's direct-buffer paths allocate). Either way the receiver hands the
 * operation the verified private copy, never the shared log buffer, so what was checked is what is used.
 * Apart from {@code Cipher.init}, which allocates under 1.5 KiB per frame, nothing is allocated per frame.
 * Owned by the rank's thread.
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

    private static Gcm newGcm(SealImplementation implementation, WireSecurity mode, byte[] key, int maxFrameLength) {
        return implementation == SealImplementation.CONSCRYPT
                ? new DirectGcm(implementation, mode, key, maxFrameLength)
                : new HeapGcm(implementation, mode, key, maxFrameLength);
    }

    /** Seals the frames this rank sends on one link. */
    static final class Sealer {
        private final Gcm gcm;
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
            this.gcm = newGcm(implementation, mode, key, maxFrameLength);
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
                gcm.seal(buffer, offset, frameLength, iv);
            } catch (GeneralSecurityException e) {
                throw new CollectiveException("cannot seal a frame for " + peerDescription + ": " + e, e);
            }
            return frameLength + TAG_LENGTH;
        }
    }

    /**
     * Opens the frames this rank receives on one link. {@link #open} checks a frame without consuming its
     * sequence number; {@link #consume()} does, once the caller has taken the frame (a frame the caller
     * defers is opened again later).
     */
    static final class Opener {
        private final Gcm gcm;
        private final byte[] iv = new byte[12];
        private final int maxSealedLength;
        private long lastSequence;
        private long lastTagSequence;
        private long openedSequence;
        private DirectBuffer opened;
        private int openedLength;

        /** Opens with {@link SealImplementation#inForce()}. */
        Opener(WireSecurity mode, byte[] key, int maxFrameLength) {
            this(mode, key, maxFrameLength, SealImplementation.inForce());
        }

        Opener(WireSecurity mode, byte[] key, int maxFrameLength, SealImplementation implementation) {
            if (mode == WireSecurity.OFF) {
                throw new IllegalArgumentException("nothing to open with wire security off");
            }
            this.gcm = newGcm(implementation, mode, key, maxFrameLength);
            this.maxSealedLength = maxFrameLength + TAG_LENGTH;
        }

        /**
         * Verifies the sealed frame of {@code length} bytes at {@code offset}.
         *
         * @return null when it is authentic and next in sequence (then {@link #buffer()} holds the opened
         *         frame at offset 0, {@link #frameLength()} bytes without the tag), else why it was refused
         */
        String open(DirectBuffer buffer, int offset, int length) {
            if (length < FrameHeader.LENGTH + TAG_LENGTH || length > maxSealedLength) {
                return "a sealed frame of " + length + " bytes is impossible (header " + FrameHeader.LENGTH
                        + ", tag " + TAG_LENGTH + ", at most " + maxSealedLength + ")";
            }
            long sequence = Integer.toUnsignedLong(FrameHeader.linkSequence(buffer, offset));
            if (sequence != lastSequence + 1) {
                String expected = " (link sequence " + sequence + ", next expected " + (lastSequence + 1) + ")";
                return sequence <= lastSequence ? "replayed or reordered frame" + expected
                        : "frame out of sequence" + expected;
            }
            nonce(iv, sequence);
            DirectBuffer verified;
            try {
                if (gcm.mode == WireSecurity.AUTHENTICATE) {
                    if (sequence == lastTagSequence) {
                        // Both implementations refuse two encryptions in a row under one nonce, a guard for
                        // senders; here the same frame is only checked again (deferred, or a forgery came
                        // first), and nothing is revealed: step to another nonce first.
                        iv[0] = 1;
                        gcm.init(Cipher.ENCRYPT_MODE, iv);
                        iv[0] = 0;
                    }
                    lastTagSequence = sequence;
                }
                verified = gcm.open(buffer, offset, length, iv);
            } catch (AEADBadTagException e) {
                return BAD_TAG;
            } catch (GeneralSecurityException e) {
                return "cannot open the frame: " + e;
            }
            if (verified == null) {
                return BAD_TAG;
            }
            opened = verified;
            openedSequence = sequence;
            openedLength = length - TAG_LENGTH;
            return null;
        }

        /** The last opened frame (valid until the next {@link #open}). */
        DirectBuffer buffer() {
            return opened;
        }

        int frameLength() {
            return openedLength;
        }

        /** Takes the last opened frame's sequence number: that frame can never be accepted again. */
        void consume() {
            lastSequence = openedSequence;
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
        private final SecretKeySpec key;

        Gcm(SealImplementation implementation, WireSecurity mode, byte[] key) {
            this.mode = mode;
            this.cipher = implementation.newCipher();
            this.key = new SecretKeySpec(key, "AES");
        }

        final void init(int cipherMode, byte[] iv) throws GeneralSecurityException {
            cipher.init(cipherMode, key, new GCMParameterSpec(TAG_LENGTH * 8, iv));
        }

        /** Seals the frame in place: appends the tag (and encrypts the payload under ENCRYPT). */
        abstract void seal(MutableDirectBuffer buffer, int offset, int frameLength, byte[] iv)
                throws GeneralSecurityException;

        /**
         * Copies the sealed frame into private memory and verifies it there.
         *
         * @return the private copy, opened, frame at offset 0; null when the tag does not verify
         */
        abstract DirectBuffer open(DirectBuffer buffer, int offset, int length, byte[] iv)
                throws GeneralSecurityException;

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

        HeapGcm(SealImplementation implementation, WireSecurity mode, byte[] key, int maxFrameLength) {
            super(implementation, mode, key);
            this.in = new byte[maxFrameLength + TAG_LENGTH];
            this.out = new byte[maxFrameLength + TAG_LENGTH];
            this.inView = new UnsafeBuffer(in);
            this.outView = new UnsafeBuffer(out);
        }

        @Override
        void seal(MutableDirectBuffer buffer, int offset, int frameLength, byte[] iv) throws GeneralSecurityException {
            buffer.getBytes(offset, in, 0, frameLength);
            init(Cipher.ENCRYPT_MODE, iv);
            cipher.updateAAD(in, 0, FrameHeader.LENGTH);
            int payload = frameLength - FrameHeader.LENGTH;
            cipher.doFinal(in, FrameHeader.LENGTH, payload, out, 0);
            if (mode == WireSecurity.AUTHENTICATE) {
                buffer.putBytes(offset + frameLength, out, payload, TAG_LENGTH);
            } else {
                buffer.putBytes(offset + FrameHeader.LENGTH, out, 0, payload + TAG_LENGTH);
            }
        }

        @Override
        DirectBuffer open(DirectBuffer buffer, int offset, int length, byte[] iv) throws GeneralSecurityException {
            buffer.getBytes(offset, in, 0, length);
            int frameLength = length - TAG_LENGTH;
            if (mode == WireSecurity.AUTHENTICATE) {
                init(Cipher.ENCRYPT_MODE, iv);
                cipher.updateAAD(in, 0, FrameHeader.LENGTH);
                int payload = frameLength - FrameHeader.LENGTH;
                cipher.doFinal(in, FrameHeader.LENGTH, payload, out, 0);
                return tagsEqual(outView, payload, inView, frameLength) ? inView : null;
            }
            init(Cipher.DECRYPT_MODE, iv);
            cipher.updateAAD(in, 0, FrameHeader.LENGTH);
            cipher.doFinal(in, FrameHeader.LENGTH, length - FrameHeader.LENGTH, out, FrameHeader.LENGTH);
            System.arraycopy(in, 0, out, 0, FrameHeader.LENGTH);
            return outView;
        }
    }

    /**
     * Conscrypt's provider over direct buffers, which it hands to BoringSSL by address: the sender runs the
     * cipher straight over the frame where the caller wrote it (Aeron's claimed log buffer or its staging
     * buffer) whenever that memory is a direct {@link ByteBuffer}, else over a private copy; the receiver
     * always verifies a private copy and hands that on, so what was checked is what is used.
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

        DirectGcm(SealImplementation implementation, WireSecurity mode, byte[] key, int maxFrameLength) {
            super(implementation, mode, key);
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
        void seal(MutableDirectBuffer buffer, int offset, int frameLength, byte[] iv) throws GeneralSecurityException {
            ByteBuffer frame = viewOf(buffer);
            int base;
            if (frame == null) {
                buffer.getBytes(offset, inView, 0, frameLength);
                frame = in;
                base = 0;
            } else {
                base = buffer.wrapAdjustment() + offset;
            }
            init(Cipher.ENCRYPT_MODE, iv);
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
        DirectBuffer open(DirectBuffer buffer, int offset, int length, byte[] iv) throws GeneralSecurityException {
            buffer.getBytes(offset, inView, 0, length);
            int frameLength = length - TAG_LENGTH;
            in.limit(FrameHeader.LENGTH).position(0);
            out.clear();
            if (mode == WireSecurity.AUTHENTICATE) {
                init(Cipher.ENCRYPT_MODE, iv);
                cipher.updateAAD(in);
                in.limit(frameLength).position(FrameHeader.LENGTH);
                cipher.doFinal(in, out);
                return tagsEqual(outView, frameLength - FrameHeader.LENGTH, inView, frameLength) ? inView : null;
            }
            init(Cipher.DECRYPT_MODE, iv);
            cipher.updateAAD(in);
            in.limit(length).position(FrameHeader.LENGTH);
            out.position(FrameHeader.LENGTH);
            cipher.doFinal(in, out);
            outView.putBytes(0, inView, 0, FrameHeader.LENGTH);
            return outView;
        }
    }
}
