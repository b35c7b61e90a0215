package io.lockstep.worker.comm;

import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FrameSealTest {
    private static final int PAYLOAD = 256;
    private static final int FRAME = FrameHeader.LENGTH + PAYLOAD;
    private static final Endpoint A = new Endpoint(0, "10.0.0.1", 1, "a", 11);
    private static final Endpoint B = new Endpoint(1, "10.0.0.2", 1, "b", 22);

    private static byte[] key(JobSecret secret, long attempt, WireSecurity mode, Endpoint from, Endpoint to) {
        return FrameSeal.linkKey(secret, "job", attempt, mode, Wire.LINK_DATA, from, to);
    }

    /** A data frame whose payload is {@code fill}, sealed as the sender's next frame. */
    private static UnsafeBuffer sealedFrame(FrameSeal.Sealer sealer, int fill) {
        UnsafeBuffer buffer = new UnsafeBuffer(ByteBuffer.allocateDirect(FRAME + FrameSeal.TAG_LENGTH));
        new FrameHeader().wrap(buffer, 0).writeIdentity(FrameHeader.TYPE_DATA, Wire.OP_ALL_REDUCE_SUM,
                Wire.ENCODING_BYTES, 0, 1, 42, 3, 7, 9).writeData(0, 0, 0, PAYLOAD, PAYLOAD);
        buffer.setMemory(FrameHeader.LENGTH, PAYLOAD, (byte) fill);
        assertEquals(FRAME + FrameSeal.TAG_LENGTH, sealer.seal(buffer, 0, FRAME));
        return buffer;
    }

    private static byte[] payloadOf(FrameSeal.FrameOpener opener) {
        byte[] payload = new byte[PAYLOAD];
        opener.buffer().getBytes(opener.frameOffset() + FrameHeader.LENGTH, payload);
        return payload;
    }

    /** Every sealing mode with every implementation, the JDK's and the native one. */
    static Stream<Arguments> modesAndImplementations() {
        return Stream.of(WireSecurity.AUTHENTICATE, WireSecurity.ENCRYPT).flatMap(mode ->
                Stream.of(SealImplementation.values()).map(implementation -> Arguments.of(mode, implementation)));
    }

    @ParameterizedTest
    @MethodSource("modesAndImplementations")
    void authenticFramesOpenInSequenceAndForgedReplayedOrReorderedOnesAreRefused(WireSecurity mode,
                                                                                 SealImplementation implementation) {
        JobSecret secret = JobSecret.random();
        byte[] key = key(secret, 0, mode, A, B);
        FrameSeal.Sealer sealer = new FrameSeal.Sealer(mode, key, FRAME, "rank 1", implementation);
        FrameSeal.Opener opener = new FrameSeal.Opener(mode, key, FRAME, implementation);
        UnsafeBuffer first = sealedFrame(sealer, 1);
        UnsafeBuffer second = sealedFrame(sealer, 2);
        UnsafeBuffer third = sealedFrame(sealer, 3);
        int length = FRAME + FrameSeal.TAG_LENGTH;

        assertNotNull(opener.open(second, 0, length), "the second frame before the first is out of sequence");
        assertNull(opener.open(first, 0, length));
        byte[] expected = new byte[PAYLOAD];
        Arrays.fill(expected, (byte) 1);
        assertArrayEquals(expected, payloadOf(opener));
        assertEquals(FRAME, opener.frameLength());
        opener.consume();
        assertTrue(opener.open(first, 0, length).contains("replayed"), "a replay of the first frame is refused");

        for (int offset : new int[]{4, 16, 40, 68, FrameHeader.LENGTH, FRAME - 1, FRAME + 3}) {
            UnsafeBuffer altered = new UnsafeBuffer(ByteBuffer.allocateDirect(length));
            altered.putBytes(0, second, 0, length);
            altered.putByte(offset, (byte) (altered.getByte(offset) ^ 0x10));
            assertNotNull(opener.open(altered, 0, length), "a bit flipped at byte " + offset + " is detected");
        }
        assertNotNull(opener.open(second, 0, length - 1), "a truncated frame is refused");
        assertNull(opener.open(second, 0, length), "the genuine frame still opens after the refused copies");
        assertNull(opener.open(second, 0, length), "a frame the caller deferred (not consumed) opens again");
        opener.consume();
        assertNull(opener.open(third, 0, length));
    }

    /**
     * On the ring A → B → C → A, C receives from B, unchanged, frames A sealed on its link to B: they open under
     * that link's key, A's sequence numbers must increase (gaps are A's frames that stopped at B), and
     * nothing else passes as A's: replays, altered frames, and B's own frames claiming to be A's.
     */
    @ParameterizedTest
    @EnumSource(SealImplementation.class)
    void forwardedFramesOpenUnderTheirOriginatorsLinkKeyWithIncreasingSequenceNumbers(
            SealImplementation implementation) {
        WireSecurity mode = WireSecurity.AUTHENTICATE;
        Endpoint c = new Endpoint(2, "10.0.0.3", 1, "c", 33);
        JobSecret secret = JobSecret.random();
        byte[] originatorKey = key(secret, 0, mode, A, B);
        FrameSeal.Sealer originator = new FrameSeal.Sealer(mode, originatorKey, FRAME, "rank 1", implementation);
        FrameSeal.Sealer predecessor = new FrameSeal.Sealer(mode, key(secret, 0, mode, B, c), FRAME, "rank 2",
                implementation);
        FrameSeal.ForwardedOpener opener = new FrameSeal.ForwardedOpener(mode,
                new byte[][]{originatorKey, null, null}, FRAME, implementation);
        assertTrue(opener.forwardsFrom(0));
        for (int rank : new int[]{-1, 1, 2, 3}) {
            assertFalse(opener.forwardsFrom(rank), "rank " + rank);
        }
        UnsafeBuffer[] frames = new UnsafeBuffer[6];
        for (int i = 0; i < frames.length; i++) {
            frames[i] = sealedFrame(originator, i + 1);
        }
        int length = FRAME + FrameSeal.TAG_LENGTH;

        assertNull(opener.open(0, frames[1], 0, length, false));
        byte[] expected = new byte[PAYLOAD];
        Arrays.fill(expected, (byte) 2);
        assertArrayEquals(expected, payloadOf(opener));
        assertEquals(FRAME, opener.frameLength());
        assertEquals(opener.buffer().getLong(opener.frameOffset() + FRAME), frames[1].getLong(FRAME),
                "the tag follows the opened frame, for the rank that forwards it on");
        opener.consume();
        assertTrue(opener.open(0, frames[0], 0, length, false).contains("replayed"), "an earlier frame");
        assertTrue(opener.open(0, frames[1], 0, length, false).contains("replayed"), "the same frame again");
        assertNull(opener.open(0, frames[3], 0, length, false), "numbers spent on frames not forwarded are skipped");
        opener.consume();

        UnsafeBuffer altered = new UnsafeBuffer(ByteBuffer.allocateDirect(length));
        altered.putBytes(0, frames[4], 0, length);
        altered.putByte(FrameHeader.LENGTH + 9, (byte) (altered.getByte(FrameHeader.LENGTH + 9) ^ 0x04));
        assertTrue(opener.open(0, altered, 0, length, false).contains("tag does not verify"), "an altered frame");
        UnsafeBuffer ownFrame = null;
        for (int i = 0; i < 5; i++) {
            ownFrame = sealedFrame(predecessor, 7); // sequence 5, above A's last, under B's link key
        }
        assertTrue(opener.open(0, ownFrame, 0, length, false).contains("tag does not verify"),
                "the predecessor's own frame does not pass as the originator's");
        assertNull(opener.open(0, frames[4], 0, length, true), "the genuine frame opens after the refused ones");
        opener.consume();
        assertNull(opener.open(0, frames[5], 0, length, false));
    }

    @ParameterizedTest
    @MethodSource("modesAndImplementations")
    void framesSealedUnderAnyOtherKeyAreRefused(WireSecurity mode, SealImplementation implementation) {
        JobSecret secret = JobSecret.random();
        byte[] key = key(secret, 0, mode, A, B);
        byte[][] otherKeys = {
                key(JobSecret.random(), 0, mode, A, B),                       // a process with another secret
                key(secret, 1, mode, A, B),                                   // the next stage attempt
                key(secret, 0, mode, B, A),                                   // the opposite direction
                key(secret, 0, mode == WireSecurity.ENCRYPT ? WireSecurity.AUTHENTICATE : WireSecurity.ENCRYPT,
                        A, B),                                                // the other mode
                key(secret, 0, mode, new Endpoint(0, "10.0.0.1", 1, "a", 12), B), // another collective instance
                FrameSeal.linkKey(secret, "job", 0, mode, Wire.LINK_CONTROL, A, B), // the other link
                FrameSeal.linkKey(secret, "other job", 0, mode, Wire.LINK_DATA, A, B),
        };
        for (byte[] other : otherKeys) {
            assertFalse(Arrays.equals(key, other));
            UnsafeBuffer frame = sealedFrame(new FrameSeal.Sealer(mode, other, FRAME, "rank 1", implementation), 5);
            FrameSeal.Opener opener = new FrameSeal.Opener(mode, key, FRAME, implementation);
            assertTrue(opener.open(frame, 0, FRAME + FrameSeal.TAG_LENGTH).contains("tag does not verify"));
        }
    }

    @ParameterizedTest
    @EnumSource(SealImplementation.class)
    void encryptionHidesThePayloadAndAuthenticationLeavesItReadable(SealImplementation implementation) {
        JobSecret secret = JobSecret.random();
        for (WireSecurity mode : new WireSecurity[]{WireSecurity.AUTHENTICATE, WireSecurity.ENCRYPT}) {
            FrameSeal.Sealer sealer = new FrameSeal.Sealer(mode, key(secret, 0, mode, A, B), FRAME, "rank 1",
                    implementation);
            UnsafeBuffer frame = sealedFrame(sealer, 0x5A);
            int plain = 0;
            for (int i = FrameHeader.LENGTH; i < FRAME; i++) {
                plain += frame.getByte(i) == 0x5A ? 1 : 0;
            }
            if (mode == WireSecurity.ENCRYPT) {
                assertTrue(plain < PAYLOAD / 16, "ciphertext still shows " + plain + " plaintext bytes");
            } else {
                assertEquals(PAYLOAD, plain);
            }
            assertEquals(42, new FrameHeader().wrap(frame, 0).jobHash(), "headers stay readable");
            assertEquals(1, FrameHeader.linkSequence(frame, 0));
        }
    }

    @Test
    void theNativeImplementationIsInForceOnLinuxX8664() {
        // The platform this project runs on: a silent fall back to the JDK would cost a third of the speed.
        String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch");
        if (os.startsWith("linux") && (arch.equals("amd64") || arch.equals("x86_64"))) {
            assertEquals(SealImplementation.CONSCRYPT, SealImplementation.inForce());
        }
    }

    /**
     * The wire format, computed independently with the JDK's AES-GCM: nonce 4 zero bytes and the link
     * sequence as 8 big-endian bytes, the header as additional data, the payload as plaintext; {@code auth}
     * sends the plaintext and the tag, {@code encrypt} the ciphertext and the tag.
     */
    @ParameterizedTest
    @MethodSource("modesAndImplementations")
    void sealedFramesAreTheSpecifiedAesGcmAndOpenWithEitherImplementation(WireSecurity mode,
                                                                         SealImplementation implementation)
            throws Exception {
        byte[] key = key(JobSecret.derive(new byte[]{1, 2, 3}, "job"), 0, mode, A, B);
        FrameSeal.Sealer sealer = new FrameSeal.Sealer(mode, key, FRAME, "rank 1", implementation);
        UnsafeBuffer first = sealedFrame(sealer, 0x11);
        UnsafeBuffer second = sealedFrame(sealer, 0x22);
        for (int sequence = 1; sequence <= 2; sequence++) {
            UnsafeBuffer sealed = sequence == 1 ? first : second;
            byte[] frame = new byte[FRAME];
            sealed.getBytes(0, frame, 0, FrameHeader.LENGTH); // the header as sent, its sequence set
            assertEquals(sequence, FrameHeader.linkSequence(sealed, 0));
            Arrays.fill(frame, FrameHeader.LENGTH, FRAME, (byte) (sequence == 1 ? 0x11 : 0x22));
            byte[] iv = new byte[12];
            iv[11] = (byte) sequence;
            Cipher gcm = Cipher.getInstance("AES/GCM/NoPadding");
            gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, iv));
            gcm.updateAAD(frame, 0, FrameHeader.LENGTH);
            byte[] ciphertextAndTag = gcm.doFinal(frame, FrameHeader.LENGTH, PAYLOAD);
            byte[] expected = Arrays.copyOf(frame, FRAME + FrameSeal.TAG_LENGTH);
            if (mode == WireSecurity.ENCRYPT) {
                System.arraycopy(ciphertextAndTag, 0, expected, FrameHeader.LENGTH, PAYLOAD + FrameSeal.TAG_LENGTH);
            } else {
                System.arraycopy(ciphertextAndTag, PAYLOAD, expected, FRAME, FrameSeal.TAG_LENGTH);
            }
            byte[] actual = new byte[FRAME + FrameSeal.TAG_LENGTH];
            sealed.getBytes(0, actual);
            assertArrayEquals(expected, actual, "frame " + sequence + " as the wire format specifies");
        }
        for (SealImplementation receiver : SealImplementation.values()) {
            FrameSeal.Opener opener = new FrameSeal.Opener(mode, key, FRAME, receiver);
            assertNull(opener.open(first, 0, FRAME + FrameSeal.TAG_LENGTH), receiver + " opens " + implementation);
            opener.consume();
            assertNull(opener.open(second, 0, FRAME + FrameSeal.TAG_LENGTH));
            byte[] expected = new byte[PAYLOAD];
            Arrays.fill(expected, (byte) 0x22);
            assertArrayEquals(expected, payloadOf(opener));
        }
    }

    /**
     * The native implementation runs over the caller's memory where it is a direct buffer (at an offset
     * inside it, as in Aeron's log buffers) and over a private copy otherwise: the bytes are the same.
     */
    @ParameterizedTest
    @EnumSource(value = WireSecurity.class, names = {"AUTHENTICATE", "ENCRYPT"})
    void whereverTheFrameLiesTheSealedBytesAreTheSame(WireSecurity mode) {
        byte[] key = key(JobSecret.random(), 0, mode, A, B);
        int length = FRAME + FrameSeal.TAG_LENGTH;
        UnsafeBuffer reference = sealedFrame(new FrameSeal.Sealer(mode, key, FRAME, "rank 1",
                SealImplementation.JDK), 0x33);
        ByteBuffer log = ByteBuffer.allocateDirect(3 * length + 1000);
        UnsafeBuffer[] places = {
                new UnsafeBuffer(log, 517, 2 * length),                     // a slice of a direct buffer
                new UnsafeBuffer(new byte[length + 40], 24, length),       // a heap array
                new UnsafeBuffer(BufferUtil.address(log) + 2 * length + 100, length),   // a bare address
        };
        for (UnsafeBuffer place : places) {
            for (SealImplementation implementation : SealImplementation.values()) {
                FrameSeal.Sealer sealer = new FrameSeal.Sealer(mode, key, FRAME, "rank 1", implementation);
                int offset = place.capacity() > length ? length - 8 : 0;
                place.setMemory(0, place.capacity(), (byte) 0);
                UnsafeBuffer unsealed = new UnsafeBuffer(new byte[FRAME]);
                unsealed.putBytes(0, reference, 0, FrameHeader.LENGTH);
                unsealed.setMemory(FrameHeader.LENGTH, PAYLOAD, (byte) 0x33);
                place.putBytes(offset, unsealed, 0, FRAME);
                assertEquals(length, sealer.seal(place, offset, FRAME));
                for (int i = 0; i < length; i++) {
                    assertEquals(reference.getByte(i), place.getByte(offset + i), implementation + " byte " + i);
                }
            }
        }
    }

    /**
     * Where a frame is opened: in memory only this process writes (Aeron's reassembly buffer), under
     * {@code auth} the native implementation verifies it where it lies in the caller's direct buffer (at an
     * offset inside it) and hands on those very bytes, without copying them; otherwise, and always for a
     * frame in shared memory (Aeron's log buffers), the opened frame is a private buffer. A payload bit
     * flipped there is refused, and the caller's bytes are never written, so a frame can be opened again.
     */
    @ParameterizedTest
    @MethodSource("modesAndImplementations")
    void anAuthenticatedFrameIsVerifiedWhereItLiesAndTheCallersBytesAreNeverWritten(
            WireSecurity mode, SealImplementation implementation) {
        byte[] key = key(JobSecret.random(), 0, mode, A, B);
        FrameSeal.Opener opener = new FrameSeal.Opener(mode, key, FRAME, implementation);
        int length = FRAME + FrameSeal.TAG_LENGTH;
        UnsafeBuffer log = new UnsafeBuffer(ByteBuffer.allocateDirect(length + 1024), 96, length + 512);
        int offset = 224;
        log.putBytes(offset, sealedFrame(new FrameSeal.Sealer(mode, key, FRAME, "rank 1", implementation), 0x44),
                0, length);
        byte[] sent = new byte[length];
        log.getBytes(offset, sent);

        int altered = offset + FrameHeader.LENGTH + PAYLOAD / 2;
        log.putByte(altered, (byte) (log.getByte(altered) ^ 0x04));
        assertTrue(opener.open(log, offset, length, true).contains("tag does not verify"), "an altered payload is refused");
        log.putByte(altered, (byte) (log.getByte(altered) ^ 0x04));
        assertNull(opener.open(log, offset, length), "the frame as sent opens from shared memory");
        assertTrue(opener.buffer() != log, "a frame in shared memory is opened in a private copy");
        assertEquals(0, opener.frameOffset());
        assertNull(opener.open(log, offset, length, true), "the frame as sent opens from private memory (not consumed: again)");

        boolean inPlace = mode == WireSecurity.AUTHENTICATE && implementation == SealImplementation.CONSCRYPT;
        assertEquals(inPlace, opener.buffer() == log, "opened where it lies");
        assertEquals(inPlace ? offset : 0, opener.frameOffset());
        byte[] expected = new byte[PAYLOAD];
        Arrays.fill(expected, (byte) 0x44);
        assertArrayEquals(expected, payloadOf(opener));
        byte[] after = new byte[length];
        log.getBytes(offset, after);
        assertArrayEquals(sent, after, "the caller's bytes are never written");
    }

    @Test
    void jobSecretsDeriveDeterministicallyAndNeverShowThemselves() {
        byte[] shared = "spark-auth-secret".getBytes(StandardCharsets.UTF_8);
        JobSecret one = JobSecret.derive(shared, "job-1");
        assertEquals(one.idSeed(), JobSecret.derive(shared, "job-1").idSeed());
        assertTrue(one.idSeed() != JobSecret.derive(shared, "job-2").idSeed());
        assertArrayEquals(FrameSeal.linkKey(one, "j", 0, WireSecurity.AUTHENTICATE, 0, A, B),
                FrameSeal.linkKey(JobSecret.derive(shared, "job-1"), "j", 0, WireSecurity.AUTHENTICATE, 0, A, B));
        assertEquals("JobSecret[hidden]", one.toString());
        assertThrows(IllegalArgumentException.class, () -> JobSecret.derive(new byte[0], "job"));
    }

    @Test
    void hkdfMatchesRfc5869TestCase1() {
        byte[] ikm = new byte[22];
        Arrays.fill(ikm, (byte) 0x0b);
        byte[] salt = hex("000102030405060708090a0b0c");
        byte[] info = hex("f0f1f2f3f4f5f6f7f8f9");
        byte[] okm = JobSecret.hkdfExpand(JobSecret.hkdfExtract(salt, ikm), info, 42);
        assertArrayEquals(hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"), okm);
    }

    private static byte[] hex(String text) {
        byte[] bytes = new byte[text.length() / 2];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) Integer.parseInt(text.substring(2 * i, 2 * i + 2), 16);
        }
        return bytes;
    }
}
