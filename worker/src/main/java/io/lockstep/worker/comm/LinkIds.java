package io.lockstep.worker.comm;

import org.agrona.collections.IntHashSet;

import java.nio.charset.StandardCharsets;

/**
 * Derives the Aeron stream and session ids of every link of a group from the job's identity, so no
 * id travels in the rendezvous and traffic of another job, attempt or group never matches.
 *
 * <ul>
 *   <li>Session ids mix the per-job secret, the job id, sender, receiver and link kind. Subscriptions
 *       accept only the session id they expect, so the media driver drops any other publication's
 *       frames before they reach an image: a stray or forged sender must know the secret.</li>
 *   <li>Stream ids mix the job id and the stage attempt with the receiver and link, so a zombie task
 *       of an earlier attempt in the same JVM publishes on a stream nobody reads (and cannot clash
 *       with the new attempt's session ids).</li>
 * </ul>
 *
 * Among the senders to one receiver on one link the session ids are made distinct deterministically
 * (every rank computes the same table in rank order), so two peers can never share an image.
 *
 * <p>Immutable after construction; safe to share.
 */
final class LinkIds {
    private final long secret;
    private final long jobHash;
    private final int size;
    private final int streamBase;

    LinkIds(long secret, long jobHash, long stageAttempt, int size) {
        this.secret = secret;
        this.jobHash = jobHash;
        this.size = size;
        // Receivers and links occupy the low 17 bits (32,767 ranks x 4 links); the attempt-dependent base sits
        // above them.
        this.streamBase = (int) (mix(jobHash ^ mix(stageAttempt + 0x5EED)) & 0x3FFE_0000L) | 0x4000_0000;
    }

    /** A 64-bit hash of a job id (FNV-1a over UTF-8, then mixed). */
    static long jobHash(String jobId) {
        long hash = 0xcbf29ce484222325L;
        for (byte b : jobId.getBytes(StandardCharsets.UTF_8)) {
            hash ^= b & 0xff;
            hash *= 0x100000001b3L;
        }
        return mix(hash);
    }

    int streamId(int link, int receiver) {
        return streamBase + receiver * Wire.LINK_COUNT + link;
    }

    int sessionId(int link, int sender, int receiver) {
        if (sender == receiver) {
            throw new IllegalArgumentException("rank " + sender + " has no link to itself");
        }
        if (sender < 0 || sender >= size || receiver < 0 || receiver >= size) {
            throw new IllegalArgumentException("ranks " + sender + " -> " + receiver + " outside a group of " + size);
        }
        return incomingSessions(link, receiver, sender)[sender];
    }

    int size() {
        return size;
    }

    /** Session ids of senders 0..lastSender towards {@code receiver}, distinct by construction (O(N)). */
    private int[] incomingSessions(int link, int receiver, int lastSender) {
        int[] ids = new int[lastSender + 1];
        IntHashSet taken = new IntHashSet(2 * (lastSender + 1));
        for (int sender = 0; sender <= lastSender; sender++) {
            if (sender == receiver) {
                continue;
            }
            long salt = 0;
            int candidate;
            do {
                candidate = candidate(link, sender, receiver, salt++);
            } while (!taken.add(candidate));
            ids[sender] = candidate;
        }
        return ids;
    }

    private int candidate(int link, int sender, int receiver, long salt) {
        long h = mix(secret ^ 0x9E3779B97F4A7C15L);
        h = mix(h ^ jobHash);
        h = mix(h ^ ((long) sender << 32 | receiver & 0xffffffffL));
        h = mix(h ^ ((long) link << 48) ^ salt);
        int id = (int) (h ^ (h >>> 32));
        // Keep clear of the range Aeron reserves by default for its own session ids of explicit channels.
        return id >= -1 && id <= 1000 ? id + 2000 : id;
    }

    /** SplitMix64's finaliser: a cheap, well-distributed 64-bit mix. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
