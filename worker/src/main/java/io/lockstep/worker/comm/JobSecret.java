package io.lockstep.worker.comm;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Objects;

/**
 * The secret every rank of a job shares: 32 bytes from which the Aeron session ids and the frame keys of
 * every link derive (HKDF-SHA256, RFC 5869). Whoever holds it can join the job's groups and read and
 * write their traffic; never log it ({@link #toString()} does not show it).
 *
 * <p>Two sources: {@link #random()} on the driver, shipped to the tasks with the job (fine when the
 * cluster's RPC is trusted), or {@link #derive(byte[], String)} on each executor from a secret the
 * cluster already distributes to it (Spark's own authentication secret when {@code spark.authenticate}
 * is on), so the job's secret never travels at all. Immutable.
 */
public final class JobSecret implements Serializable {
    private static final long serialVersionUID = 1L;
    static final int LENGTH = 32;
    private static final byte[] DERIVE_SALT = "lockstep job secret v1".getBytes(StandardCharsets.UTF_8);
    private static final byte[] KEY_SALT = "lockstep link keys v1".getBytes(StandardCharsets.UTF_8);

    private final byte[] bytes;

    private JobSecret(byte[] bytes) {
        this.bytes = bytes;
    }

    /** 32 bytes from a {@link SecureRandom}. */
    public static JobSecret random() {
        byte[] bytes = new byte[LENGTH];
        new SecureRandom().nextBytes(bytes);
        return new JobSecret(bytes);
    }

    /**
     * The job's secret derived from a secret the cluster shares, for one job: the same inputs give the
     * same secret on every executor, different jobs get unrelated secrets.
     *
     * @param shared the cluster's secret (its strength bounds this one's)
     * @param jobId  the job's unique id
     */
    public static JobSecret derive(byte[] shared, String jobId) {
        Objects.requireNonNull(shared, "shared");
        Objects.requireNonNull(jobId, "jobId");
        if (shared.length == 0) {
            throw new IllegalArgumentException("the shared secret is empty");
        }
        byte[] prk = hkdfExtract(DERIVE_SALT, shared);
        return new JobSecret(hkdfExpand(prk, jobId.getBytes(StandardCharsets.UTF_8), LENGTH));
    }

    /** The 64-bit seed of the Aeron session ids ({@link LinkIds}). */
    long idSeed() {
        return ByteBuffer.wrap(hkdfExpand(hkdfExtract(KEY_SALT, bytes), "aeron session ids"
                .getBytes(StandardCharsets.UTF_8), Long.BYTES)).getLong();
    }

    /**
     * The AES-128 key of one link direction. {@code context} names the group (job id, stage attempt),
     * the link, both ends and both ends' instance nonces, so every collective, direction and link has
     * its own key and a frame sealed for one is refused by every other.
     */
    byte[] linkKey(byte[] context) {
        return hkdfExpand(hkdfExtract(KEY_SALT, bytes), context, 16);
    }

    static byte[] hkdfExtract(byte[] salt, byte[] inputKeyMaterial) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(salt, "HmacSHA256"));
            return mac.doFinal(inputKeyMaterial);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JVM lacks HmacSHA256, which every Java SE platform must provide", e);
        }
    }

    static byte[] hkdfExpand(byte[] prk, byte[] info, int length) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(prk, "HmacSHA256"));
            byte[] out = new byte[length];
            byte[] block = new byte[0];
            int filled = 0;
            for (int counter = 1; filled < length; counter++) {
                mac.update(block);
                mac.update(info);
                mac.update((byte) counter);
                block = mac.doFinal();
                int n = Math.min(block.length, length - filled);
                System.arraycopy(block, 0, out, filled, n);
                filled += n;
            }
            return out;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JVM lacks HmacSHA256, which every Java SE platform must provide", e);
        }
    }

    @Override
    public String toString() {
        return "JobSecret[hidden]";
    }
}
