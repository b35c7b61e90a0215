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
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;

/**
 * Frame-level protection of one link direction ({@link WireSecurity}): the sender {@link Sealer} stamps
 * each frame with the next link sequence number and appends a 16-byte AES-GCM tag (the payload encrypted
 * in place under {@link WireSecurity#ENCRYPT}); the receiver {@link Opener} accepts a frame only if it
 * carries the next sequence number and its tag verifies. It knows nothing of operations: whatever a
 * collective sends in a frame is covered the same way.
 *
 * <p>Nonces: the 96-bit GCM nonce is the link sequence number, which starts at 1 and never wraps, and
 * every link direction of every collective has its own key ({@link #linkKey}), so no nonce repeats under
 * a key between genuine frames.
 *
 * <p>Authentication without encryption is AES-GCM with the header as additional data and the payload as
 * plaintext, whose ciphertext is discarded: only the tag travels, next to the plaintext payload, and the
 * receiver recomputes it. An attacker sees less than under ordinary GCM (the plaintext and tag, never the
 * ciphertext), so forging is at least as hard as forging GCM. It is not plain GMAC (the whole frame as
 * additional data) because the JDK 17 provider buffers additional data: measured, it allocated twice the
 * frame per frame and ran slower, while its encryption path runs in place on the CPU's AES and
 * carry-less-multiply instructions.
 *
 * <p>Both sides copy the frame into a private array before the cryptography (the JDK's direct-buffer
 * paths allocate), and the receiver hands the operation that verified copy, never the shared log buffer,
 * so what was checked is what is used. Apart from the JDK's {@code Cipher.init}, which allocates about
 * 1 KiB per frame, nothing is allocated per frame. Owned by the rank's thread.
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

    private static Cipher newCipher() {
        try {
            return Cipher.getInstance("AES/GCM/NoPadding");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JVM lacks AES/GCM/NoPadding, which every Java SE platform must "
                    + "provide", e);
        }
    }

    private static void nonce(byte[] iv, long sequence) {
        for (int i = 0; i < 8; i++) {
            iv[11 - i] = (byte) (sequence >>> (8 * i));
        }
    }

    /** Seals the frames this rank sends on one link. */
    static final class Sealer {
        private final WireSecurity mode;
        private final SecretKeySpec key;
        private final Cipher cipher = newCipher();
        private final byte[] iv = new byte[12];
        private final byte[] in;
        private final byte[] out;
        private final String peerDescription;
        private long sequence;

        Sealer(WireSecurity mode, byte[] key, int maxFrameLength, String peerDescription) {
            if (mode == WireSecurity.OFF) {
                throw new IllegalArgumentException("nothing to seal with wire security off");
            }
            this.mode = mode;
            this.key = new SecretKeySpec(key, "AES");
            this.in = new byte[maxFrameLength];
            this.out = new byte[maxFrameLength + TAG_LENGTH];
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
            buffer.getBytes(offset, in, 0, frameLength);
            nonce(iv, sequence);
            try {
                cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_LENGTH * 8, iv));
                cipher.updateAAD(in, 0, FrameHeader.LENGTH);
                int payload = frameLength - FrameHeader.LENGTH;
                cipher.doFinal(in, FrameHeader.LENGTH, payload, out, 0);
                if (mode == WireSecurity.AUTHENTICATE) {
                    buffer.putBytes(offset + frameLength, out, payload, TAG_LENGTH);
                } else {
                    buffer.putBytes(offset + FrameHeader.LENGTH, out, 0, payload + TAG_LENGTH);
                }
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
        private final WireSecurity mode;
        private final SecretKeySpec key;
        private final Cipher cipher = newCipher();
        private final byte[] iv = new byte[12];
        private final byte[] in;
        private final byte[] out;
        private final UnsafeBuffer inView;
        private final UnsafeBuffer outView;
        private long lastSequence;
        private long lastTagSequence;
        private long openedSequence;
        private UnsafeBuffer opened;
        private int openedLength;

        Opener(WireSecurity mode, byte[] key, int maxFrameLength) {
            if (mode == WireSecurity.OFF) {
                throw new IllegalArgumentException("nothing to open with wire security off");
            }
            this.mode = mode;
            this.key = new SecretKeySpec(key, "AES");
            this.in = new byte[maxFrameLength + TAG_LENGTH];
            this.out = new byte[maxFrameLength + TAG_LENGTH];
            this.inView = new UnsafeBuffer(in);
            this.outView = new UnsafeBuffer(out);
        }

        /**
         * Verifies the sealed frame of {@code length} bytes at {@code offset}.
         *
         * @return null when it is authentic and next in sequence (then {@link #buffer()} holds the opened
         *         frame at offset 0, {@link #frameLength()} bytes without the tag), else why it was refused
         */
        String open(DirectBuffer buffer, int offset, int length) {
            if (length < FrameHeader.LENGTH + TAG_LENGTH || length > in.length) {
                return "a sealed frame of " + length + " bytes is impossible (header " + FrameHeader.LENGTH
                        + ", tag " + TAG_LENGTH + ", at most " + in.length + ")";
            }
            long sequence = Integer.toUnsignedLong(FrameHeader.linkSequence(buffer, offset));
            if (sequence != lastSequence + 1) {
                String expected = " (link sequence " + sequence + ", next expected " + (lastSequence + 1) + ")";
                return sequence <= lastSequence ? "replayed or reordered frame" + expected
                        : "frame out of sequence" + expected;
            }
            int frameLength = length - TAG_LENGTH;
            buffer.getBytes(offset, in, 0, length);
            nonce(iv, sequence);
            try {
                if (mode == WireSecurity.AUTHENTICATE) {
                    if (sequence == lastTagSequence) {
                        // The JDK refuses two encryptions in a row under one nonce, a guard for senders; here
                        // the same frame is only checked again (deferred, or a forgery came first), and
                        // nothing is revealed: step to another nonce first.
                        iv[0] = 1;
                        cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_LENGTH * 8, iv));
                        iv[0] = 0;
                    }
                    lastTagSequence = sequence;
                    cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_LENGTH * 8, iv));
                    cipher.updateAAD(in, 0, FrameHeader.LENGTH);
                    int payload = frameLength - FrameHeader.LENGTH;
                    cipher.doFinal(in, FrameHeader.LENGTH, payload, out, 0);
                    int difference = 0;
                    for (int i = 0; i < TAG_LENGTH; i++) {
                        difference |= out[payload + i] ^ in[frameLength + i];
                    }
                    if (difference != 0) {
                        return BAD_TAG;
                    }
                    opened = inView;
                } else {
                    cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_LENGTH * 8, iv));
                    cipher.updateAAD(in, 0, FrameHeader.LENGTH);
                    cipher.doFinal(in, FrameHeader.LENGTH, length - FrameHeader.LENGTH, out, FrameHeader.LENGTH);
                    System.arraycopy(in, 0, out, 0, FrameHeader.LENGTH);
                    opened = outView;
                }
            } catch (AEADBadTagException e) {
                return BAD_TAG;
            } catch (GeneralSecurityException e) {
                return "cannot open the frame: " + e;
            }
            openedSequence = sequence;
            openedLength = frameLength;
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
}
