package io.lockstep.driver.plan;

import java.io.Serializable;
import java.util.SplittableRandom;

/**
 * Which replica trains which record, in which order, in one epoch — a pure function of
 * (seed, epoch, replicas, records, batch per replica), so the same seed gives the same plan on any
 * cluster, on a retried stage, and after a resume.
 *
 * <p>The records are shuffled (Fisher–Yates with a generator seeded from seed and epoch). Step
 * {@code s} of the job trains the global batch at shuffled positions {@code [s·N·B, (s+1)·N·B)};
 * within it replica {@code r} takes the {@code r}-th block of {@code B}. So N replicas × batch B
 * see exactly the samples, in the same order, that one replica with batch N·B would.
 *
 * <p>Remainder: every replica must take exactly the same number of steps (a synchronous collective
 * deadlocks otherwise), so the last {@code records mod (N·B)} shuffled records are dropped for this
 * epoch. The shuffle differs every epoch, so no record is dropped systematically; at most
 * N·B − 1 records per epoch (under 1% of Fashion-MNIST at N·B = 128).
 */
public final class EpochPlan implements Serializable {
    private final long seed;
    private final int epoch;
    private final int replicas;
    private final int records;
    private final int batchPerReplica;
    private final int[] positionOfRecord;

    public EpochPlan(long seed, int epoch, int replicas, int records, int batchPerReplica) {
        if (replicas < 1) {
            throw new IllegalArgumentException("replicas must be at least 1, got " + replicas);
        }
        if (batchPerReplica < 1) {
            throw new IllegalArgumentException("batch size must be at least 1, got " + batchPerReplica);
        }
        if (records < (long) replicas * batchPerReplica) {
            throw new IllegalArgumentException("the training set has " + records + " records, fewer than one global batch of "
                    + replicas + " replicas x " + batchPerReplica + "; use a smaller --batch-size or fewer --replicas");
        }
        this.seed = seed;
        this.epoch = epoch;
        this.replicas = replicas;
        this.records = records;
        this.batchPerReplica = batchPerReplica;
        int[] order = new int[records];
        for (int i = 0; i < records; i++) {
            order[i] = i;
        }
        SplittableRandom random = new SplittableRandom(mix(seed, epoch));
        for (int i = records - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        positionOfRecord = new int[records];
        for (int position = 0; position < records; position++) {
            positionOfRecord[order[position]] = position;
        }
    }

    private static long mix(long seed, int epoch) {
        long z = seed * 0x9E3779B97F4A7C15L + epoch;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    public int stepsPerEpoch() {
        return records / (replicas * batchPerReplica);
    }

    /** Records trained this epoch (the rest is the dropped remainder). */
    public int usedRecords() {
        return stepsPerEpoch() * replicas * batchPerReplica;
    }

    public int droppedRecords() {
        return records - usedRecords();
    }

    /** Replica that trains record {@code index} this epoch, or -1 if it falls in the dropped remainder. */
    public int replicaOf(int index) {
        int position = positionOfRecord[index];
        if (position >= usedRecords()) {
            return -1;
        }
        return (position % (replicas * batchPerReplica)) / batchPerReplica;
    }

    /** Position of record {@code index} within its replica's shard (step × B + offset in the batch). */
    public int orderInShard(int index) {
        int position = positionOfRecord[index];
        int global = replicas * batchPerReplica;
        return (position / global) * batchPerReplica + position % batchPerReplica;
    }

    /** Record trained by {@code replica} at shard position {@code order} (inverse of the two above). */
    public int recordAt(int replica, int order) {
        int step = order / batchPerReplica;
        int offset = order % batchPerReplica;
        int position = step * replicas * batchPerReplica + replica * batchPerReplica + offset;
        for (int i = 0; i < records; i++) {
            if (positionOfRecord[i] == position) {
                return i;
            }
        }
        throw new IllegalArgumentException("no record at replica " + replica + ", order " + order);
    }

    public long seed() {
        return seed;
    }

    public int epoch() {
        return epoch;
    }

    public int replicas() {
        return replicas;
    }

    public int batchPerReplica() {
        return batchPerReplica;
    }

    public int records() {
        return records;
    }
}
