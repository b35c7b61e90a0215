package io.lockstep.worker.comm;

import org.conscrypt.Conscrypt;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.security.GeneralSecurityException;
import java.security.Provider;
import java.util.Arrays;

/**
 * Which AES-GCM implementation seals and opens the frames of {@link WireSecurity} in this JVM. Both compute
 * the same function, so the wire format does not depend on it and ranks using different ones interoperate;
 * only the CPU cost differs (the native one seals about three times as fast per core on AES-NI/VAES
 * machines, see docs/benchmarks/wire-security.md).
 *
 * <p>{@link #inForce()} is decided once per JVM, at the first collective that seals: {@link #CONSCRYPT}
 * when its native library loads on this platform and computes the same tags as the JDK on a test frame,
 * otherwise {@link #JDK} with a warning saying why. The choice is logged once.
 */
public enum SealImplementation {
    /** BoringSSL's AES-GCM through Conscrypt's JCA provider, run over direct buffers without copying. */
    CONSCRYPT("conscrypt"),
    /** The JDK's own AES-GCM (SunJCE), over private heap copies of the frames. */
    JDK("jdk");

    private static final Logger LOG = LoggerFactory.getLogger(SealImplementation.class);

    private final String displayName;

    SealImplementation(String displayName) {
        this.displayName = displayName;
    }

    /** The name used in logs and run summaries: {@code conscrypt} or {@code jdk}. */
    public String displayName() {
        return displayName;
    }

    /** The implementation this JVM uses: Conscrypt where its native library works here, else the JDK. */
    public static SealImplementation inForce() {
        return Resolved.IMPLEMENTATION;
    }

    /** A new AES/GCM/NoPadding cipher of this implementation. @throws IllegalStateException if unavailable */
    Cipher newCipher() {
        try {
            if (this == JDK) {
                return Cipher.getInstance("AES/GCM/NoPadding");
            }
            if (Resolved.CONSCRYPT_PROVIDER == null) {
                throw new IllegalStateException("Conscrypt's native library does not work in this JVM (see the "
                        + "warning logged by " + SealImplementation.class.getName() + "): use " + JDK);
            }
            return Cipher.getInstance("AES/GCM/NoPadding", Resolved.CONSCRYPT_PROVIDER);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("no AES/GCM/NoPadding from " + displayName, e);
        }
    }

    /** Loaded on first use, so a JVM that never seals never loads the native library. */
    private static final class Resolved {
        static final Provider CONSCRYPT_PROVIDER = loadConscrypt();
        static final SealImplementation IMPLEMENTATION = CONSCRYPT_PROVIDER == null ? JDK : CONSCRYPT;

        static {
            if (IMPLEMENTATION == CONSCRYPT) {
                Conscrypt.Version version = Conscrypt.version();
                LOG.info("wire security: frames are sealed with BoringSSL's AES-GCM through Conscrypt {}.{}.{}",
                        version.major(), version.minor(), version.patch());
            }
        }

        private static Provider loadConscrypt() {
            try {
                // Throws the loader's error (an UnsatisfiedLinkError naming the platform) when the library
                // has no build for this platform or cannot load.
                Conscrypt.checkAvailability();
                Provider provider = Conscrypt.newProvider();
                if (!Arrays.equals(testTag(Cipher.getInstance("AES/GCM/NoPadding", provider)),
                        testTag(Cipher.getInstance("AES/GCM/NoPadding")))) {
                    LOG.warn("wire security: Conscrypt's AES-GCM disagrees with the JDK's on a test frame; frames "
                            + "are sealed with the JDK's AES-GCM");
                    return null;
                }
                return provider;
            } catch (LinkageError | GeneralSecurityException | RuntimeException e) {
                LOG.warn("wire security: Conscrypt cannot be used on {}-{} ({}); frames are sealed with the JDK's "
                        + "AES-GCM, about a third as fast per core", System.getProperty("os.name"),
                        System.getProperty("os.arch"), e.toString());
                return null;
            }
        }

        /** Seals a fixed 1 KiB frame: the two implementations must give the same bytes. */
        private static byte[] testTag(Cipher cipher) throws GeneralSecurityException {
            byte[] key = new byte[16];
            byte[] iv = new byte[12];
            byte[] frame = new byte[1024];
            for (int i = 0; i < frame.length; i++) {
                frame[i] = (byte) (i * 31 + 7);
            }
            key[3] = 42;
            iv[11] = 1;
            cipher.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, iv));
            cipher.updateAAD(frame, 0, FrameHeader.LENGTH);
            return cipher.doFinal(frame, FrameHeader.LENGTH, frame.length - FrameHeader.LENGTH);
        }
    }
}
