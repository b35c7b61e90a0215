package io.lockstep.worker.comm;

import org.agrona.concurrent.UnsafeBuffer;
import org.conscrypt.Conscrypt;

import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.security.Provider;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * BENCHMARK (a main, not a test): per-core throughput of the candidate frame MACs and AEADs over frames of
 * the all-reduce's sizes, the frame starting in a direct buffer as in Aeron's log buffer. Each candidate
 * computes a 16-byte (HMAC: 32-byte) tag over a 72-byte header and the payload, as {@link FrameSeal}
 * would; the {@code frameseal-*} rows are {@link FrameSeal} itself (seal, then seal and open).
 *
 * <p>Figures are payload MB per second of the measuring thread's CPU time (native code included), so they
 * stay comparable when other processes share the cores; candidates take turns round by round and the
 * median is printed. Run with the worker's test classpath:
 * {@code java -cp <worker test and runtime classpath> --add-exports=java.base/jdk.internal.misc=ALL-UNNAMED
 * io.lockstep.worker.comm.SealThroughput [payloads,comma,separated] [rounds] [millis per sample]}.
 */
public final class SealThroughput {
    private static final int HEADER = FrameHeader.LENGTH;
    private static final int TAG = FrameSeal.TAG_LENGTH;

    private SealThroughput() {
    }

    @FunctionalInterface
    private interface Candidate {
        void run(long sequence) throws Exception;
    }

    private static byte[] nonce(long sequence) {
        byte[] iv = new byte[12];
        for (int i = 0; i < 8; i++) {
            iv[11 - i] = (byte) (sequence >>> (8 * i));
        }
        return iv;
    }

    public static void main(String[] args) throws Exception {
        int[] payloads = java.util.Arrays.stream((args.length > 0 ? args[0]
                : "8120,16312,32696," + CollectiveConfig.DEFAULT_CHUNK_BYTES).split(","))
                .mapToInt(Integer::parseInt).toArray();
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        long millis = args.length > 2 ? Long.parseLong(args[2]) : 1000;
        Conscrypt.Version version = Conscrypt.version();
        Provider conscrypt = Conscrypt.newProvider();
        System.out.printf(Locale.ROOT, "seal throughput, %s, Java %s, Conscrypt %d.%d.%d, in force: %s, load average %.2f%n",
                java.time.Instant.now(), System.getProperty("java.version"), version.major(), version.minor(),
                version.patch(), SealImplementation.inForce().displayName(),
                ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        byte[] key = new byte[16];
        new SplittableRandom(1).nextBytes(key);
        SecretKeySpec aes = new SecretKeySpec(key, "AES");
        SecretKeySpec chacha = new SecretKeySpec(new byte[32], "ChaCha20");
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        for (int payload : payloads) {
            int frame = HEADER + payload;
            ByteBuffer log = ByteBuffer.allocateDirect(frame + TAG); // the frame, where Aeron would hold it
            byte[] bytes = new byte[frame + TAG];
            new SplittableRandom(2).nextBytes(bytes);
            log.put(bytes).clear();
            UnsafeBuffer logView = new UnsafeBuffer(log);
            byte[] in = new byte[frame + TAG];
            byte[] out = new byte[frame + TAG];
            byte[] header = new byte[HEADER];
            byte[] tag = new byte[32];
            ByteBuffer directOut = ByteBuffer.allocateDirect(frame + TAG);
            Map<String, Candidate> candidates = new LinkedHashMap<>();

            Cipher jdkGcm = Cipher.getInstance("AES/GCM/NoPadding");
            candidates.put("jdk gcm, heap copy", s -> { // FrameSeal's path with the JDK
                log.get(0, in, 0, frame);
                jdkGcm.init(Cipher.ENCRYPT_MODE, aes, new GCMParameterSpec(128, nonce(s)));
                jdkGcm.updateAAD(in, 0, HEADER);
                jdkGcm.doFinal(in, HEADER, payload, out, 0);
            });
            Cipher jdkGmac = Cipher.getInstance("AES/GCM/NoPadding");
            candidates.put("jdk gmac, heap copy", s -> {
                log.get(0, in, 0, frame);
                jdkGmac.init(Cipher.ENCRYPT_MODE, aes, new GCMParameterSpec(128, nonce(s)));
                jdkGmac.updateAAD(in, 0, frame);
                jdkGmac.doFinal(out, 0);
            });
            Cipher jdkChacha = Cipher.getInstance("ChaCha20-Poly1305");
            candidates.put("jdk chacha20-poly1305", s -> {
                log.get(0, in, 0, frame);
                jdkChacha.init(Cipher.ENCRYPT_MODE, chacha, new IvParameterSpec(nonce(s)));
                jdkChacha.updateAAD(in, 0, HEADER);
                jdkChacha.doFinal(in, HEADER, payload, out, 0);
            });
            Mac jdkHmac = Mac.getInstance("HmacSHA256");
            jdkHmac.init(new SecretKeySpec(new byte[32], "HmacSHA256"));
            candidates.put("jdk hmac-sha256", s -> {
                log.get(0, in, 0, frame);
                jdkHmac.update(in, 0, frame);
                jdkHmac.doFinal(tag, 0);
            });
            Cipher nativeGcmHeap = Cipher.getInstance("AES/GCM/NoPadding", conscrypt);
            candidates.put("conscrypt gcm, heap copy", s -> {
                log.get(0, in, 0, frame);
                nativeGcmHeap.init(Cipher.ENCRYPT_MODE, aes, new GCMParameterSpec(128, nonce(s)));
                nativeGcmHeap.updateAAD(in, 0, HEADER);
                nativeGcmHeap.doFinal(in, HEADER, payload, out, 0);
            });
            Cipher nativeGcmDirect = Cipher.getInstance("AES/GCM/NoPadding", conscrypt);
            ByteBuffer source = log.duplicate();
            candidates.put("conscrypt gcm, direct", s -> {
                nativeGcmDirect.init(Cipher.ENCRYPT_MODE, aes, new GCMParameterSpec(128, nonce(s)));
                source.limit(HEADER).position(0);
                nativeGcmDirect.updateAAD(source);
                source.limit(frame).position(HEADER);
                directOut.clear();
                nativeGcmDirect.doFinal(source, directOut);
            });
            Cipher nativeGmacHeap = Cipher.getInstance("AES/GCM/NoPadding", conscrypt);
            candidates.put("conscrypt gmac, heap copy", s -> {
                log.get(0, in, 0, frame);
                nativeGmacHeap.init(Cipher.ENCRYPT_MODE, aes, new GCMParameterSpec(128, nonce(s)));
                nativeGmacHeap.updateAAD(in, 0, frame);
                nativeGmacHeap.doFinal(out, 0);
            });
            Cipher nativeGmacDirect = Cipher.getInstance("AES/GCM/NoPadding", conscrypt);
            candidates.put("conscrypt gmac, direct", s -> {
                nativeGmacDirect.init(Cipher.ENCRYPT_MODE, aes, new GCMParameterSpec(128, nonce(s)));
                source.limit(frame).position(0);
                nativeGmacDirect.updateAAD(source);
                nativeGmacDirect.doFinal(out, 0);
            });
            Cipher nativeChacha = Cipher.getInstance("ChaCha20/Poly1305/NoPadding", conscrypt);
            candidates.put("conscrypt chacha20-poly1305, direct", s -> {
                log.get(0, header, 0, HEADER);
                nativeChacha.init(Cipher.ENCRYPT_MODE, chacha, new IvParameterSpec(nonce(s)));
                nativeChacha.updateAAD(header);
                source.limit(frame).position(HEADER);
                directOut.clear();
                nativeChacha.doFinal(source, directOut);
            });
            Mac nativeHmac = Mac.getInstance("HmacSHA256", conscrypt);
            nativeHmac.init(new SecretKeySpec(new byte[32], "HmacSHA256"));
            candidates.put("conscrypt hmac-sha256, direct", s -> {
                source.limit(frame).position(0);
                nativeHmac.update(source);
                nativeHmac.doFinal(tag, 0);
            });
            for (SealImplementation implementation : SealImplementation.values()) {
                for (WireSecurity mode : new WireSecurity[]{WireSecurity.AUTHENTICATE, WireSecurity.ENCRYPT}) {
                    FrameSeal.Sealer sealer = new FrameSeal.Sealer(mode, key, frame, "bench", implementation);
                    candidates.put("frameseal " + mode.optionName() + " " + implementation.displayName() + ", seal",
                            s -> sealer.seal(logView, 0, frame));
                    FrameSeal.Sealer pairSealer = new FrameSeal.Sealer(mode, key, frame, "bench", implementation);
                    FrameSeal.Opener opener = new FrameSeal.Opener(mode, key, frame, implementation);
                    candidates.put("frameseal " + mode.optionName() + " " + implementation.displayName()
                            + ", seal+open", s -> {
                        int sealed = pairSealer.seal(logView, 0, frame);
                        String refusal = opener.open(logView, 0, sealed);
                        if (refusal != null) {
                            throw new IllegalStateException(refusal);
                        }
                        opener.consume();
                    });
                }
            }

            long[] sequence = {1};
            for (Candidate candidate : candidates.values()) { // warm-up: the JIT compiles the intrinsics
                for (int i = 0; i < 3000; i++) {
                    candidate.run(sequence[0]++);
                }
            }
            Map<String, List<Double>> figures = new LinkedHashMap<>();
            for (int round = 0; round < rounds; round++) {
                for (Map.Entry<String, Candidate> entry : candidates.entrySet()) {
                    long wallStart = System.nanoTime();
                    long cpuStart = threads.getCurrentThreadCpuTime();
                    long frames = 0;
                    do {
                        for (int i = 0; i < 8; i++) {
                            entry.getValue().run(sequence[0]++);
                        }
                        frames += 8;
                    } while (System.nanoTime() - wallStart < millis * 1_000_000L);
                    double cpuSeconds = (threads.getCurrentThreadCpuTime() - cpuStart) / 1e9;
                    figures.computeIfAbsent(entry.getKey(), k -> new ArrayList<>())
                            .add(frames * (double) payload / 1e6 / cpuSeconds);
                }
            }
            for (Map.Entry<String, List<Double>> entry : figures.entrySet()) {
                List<Double> sorted = new ArrayList<>(entry.getValue());
                Collections.sort(sorted);
                System.out.printf(Locale.ROOT, "payload %6d B  %-40s %7.0f MB/s per core (rounds %s)%n", payload,
                        entry.getKey(), sorted.get(sorted.size() / 2), entry.getValue().stream()
                                .map(v -> String.format(Locale.ROOT, "%.0f", v)).toList());
            }
        }
    }
}
