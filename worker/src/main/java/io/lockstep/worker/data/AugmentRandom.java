package io.lockstep.worker.data;

/**
 * The augmentation random stream of one batch: SplitMix64 seeded from (seed, epoch, rank, step), so
 * that a batch's augmentation depends only on where it is in the run, not on which thread decodes it
 * or when. Not thread-safe: one instance per batch, used by the thread decoding that batch.
 */
public final class AugmentRandom {
    private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;
    private long state;

    public AugmentRandom(long seed, int epoch, int rank, int step) {
        long s = mix(seed ^ 0x6C6F636B73746570L);
        s = mix(s + GOLDEN_GAMMA * (epoch + 1L));
        s = mix(s + GOLDEN_GAMMA * (rank + 1L) * 31);
        s = mix(s + GOLDEN_GAMMA * (step + 2L) * 961);
        this.state = s;
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    public long nextLong() {
        state += GOLDEN_GAMMA;
        return mix(state);
    }

    /** Uniform in [0, 1). */
    public double nextDouble() {
        return (nextLong() >>> 11) * 0x1.0p-53;
    }

    /** Uniform in [0, bound), bound positive. */
    public int nextInt(int bound) {
        return (int) ((nextLong() >>> 33) * bound >>> 31);
    }

    /** Uniform in [low, high] inclusive. */
    public int nextIntInclusive(int low, int high) {
        return low + nextInt(high - low + 1);
    }

    public boolean nextBoolean() {
        return nextLong() < 0;
    }
}
