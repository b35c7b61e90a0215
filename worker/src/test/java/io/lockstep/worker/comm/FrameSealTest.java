package io.lockstep.worker.comm;

import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

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

    private static byte[] payloadOf(FrameSeal.Opener opener) {
        byte[] payload = new byte[PAYLOAD];
        opener.buffer().getBytes(FrameHeader.LENGTH, payload);
        return payload;
    }

    @ParameterizedTest
    @EnumSource(value = WireSecurity.class, names = {"AUTHENTICATE", "ENCRYPT"})
    void authenticFramesOpenInSequenceAndForgedReplayedOrReorderedOnesAreRefused(WireSecurity mode) {
        JobSecret secret = JobSecret.random();
        byte[] key = key(secret, 0, mode, A, B);
        FrameSeal.Sealer sealer = new FrameSeal.Sealer(mode, key, FRAME, "rank 1");
        FrameSeal.Opener opener = new FrameSeal.Opener(mode, key, FRAME);
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

    @Test
    void framesSealedUnderAnyOtherKeyAreRefused() {
        JobSecret secret = JobSecret.random();
        WireSecurity mode = WireSecurity.AUTHENTICATE;
        byte[] key = key(secret, 0, mode, A, B);
        byte[][] otherKeys = {
                key(JobSecret.random(), 0, mode, A, B),                       // a process with another secret
                key(secret, 1, mode, A, B),                                   // the next stage attempt
                key(secret, 0, mode, B, A),                                   // the opposite direction
                key(secret, 0, WireSecurity.ENCRYPT, A, B),                   // the other mode
                key(secret, 0, mode, new Endpoint(0, "10.0.0.1", 1, "a", 12), B), // another collective instance
                FrameSeal.linkKey(secret, "job", 0, mode, Wire.LINK_CONTROL, A, B), // the other link
                FrameSeal.linkKey(secret, "other job", 0, mode, Wire.LINK_DATA, A, B),
        };
        for (byte[] other : otherKeys) {
            assertFalse(Arrays.equals(key, other));
            UnsafeBuffer frame = sealedFrame(new FrameSeal.Sealer(mode, other, FRAME, "rank 1"), 5);
            FrameSeal.Opener opener = new FrameSeal.Opener(mode, key, FRAME);
            assertTrue(opener.open(frame, 0, FRAME + FrameSeal.TAG_LENGTH).contains("tag does not verify"));
        }
    }

    @Test
    void encryptionHidesThePayloadAndAuthenticationLeavesItReadable() {
        JobSecret secret = JobSecret.random();
        for (WireSecurity mode : new WireSecurity[]{WireSecurity.AUTHENTICATE, WireSecurity.ENCRYPT}) {
            FrameSeal.Sealer sealer = new FrameSeal.Sealer(mode, key(secret, 0, mode, A, B), FRAME, "rank 1");
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
