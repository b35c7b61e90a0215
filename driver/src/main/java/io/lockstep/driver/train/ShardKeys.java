package io.lockstep.driver.train;

import org.apache.spark.Partitioner;

/**
 * Shuffle keys that carry a record to its replica in plan order: {@code replica} in the high 32 bits,
 * then a test flag, then the record's position in the shard (step × batch + slot). Sorting the keys of
 * one replica's partition therefore gives its training records step by step, then its test records.
 */
final class ShardKeys {
    private static final long TEST_FLAG = 1L << 31;

    private ShardKeys() {
    }

    static long key(int replica, boolean test, int order) {
        if (order < 0) {
            throw new IllegalArgumentException("shard position must be non-negative, got " + order);
        }
        return ((long) replica << 32) | (test ? TEST_FLAG : 0) | order;
    }

    static int replica(long key) {
        return (int) (key >>> 32);
    }

    /** One partition per replica: partition id = rank of the replica that trains the record. */
    static final class ByReplica extends Partitioner {
        private final int replicas;

        ByReplica(int replicas) {
            this.replicas = replicas;
        }

        @Override
        public int numPartitions() {
            return replicas;
        }

        @Override
        public int getPartition(Object key) {
            return replica((Long) key);
        }

        @Override
        public boolean equals(Object other) {
            return other instanceof ByReplica that && that.replicas == replicas;
        }

        @Override
        public int hashCode() {
            return replicas;
        }
    }
}
