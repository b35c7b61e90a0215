package io.lockstep.driver.train;

import org.apache.spark.Partitioner;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.rdd.ShuffledRDD;
import org.apache.spark.serializer.JavaSerializer;
import org.apache.spark.serializer.Serializer;
import scala.math.Ordering;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

import java.util.Comparator;

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

    /**
     * The routing shuffle: {@code pairs} keyed by {@link #key}, one partition per replica, sorted by key within it.
     *
     * <p>Its own serializer: Java serialization that resets its stream after every object. Spark's default resets
     * only every 100 objects ({@code spark.serializer.objectStreamReset}), and until a reset both ends keep every
     * object of the stream reachable (the writer to send back-references, the reader to resolve them). The
     * receiving side's sorter spills the records to disk and merges the spill files with one open stream each,
     * so each of those streams held up to 100 records: with images of 0.8 MB, two replicas of one 512 MB JVM
     * ran out of heap merging their spills (a heap dump showed the images held by
     * {@code ObjectInputStream}'s handle table under {@code ExternalSorter$SpillReader}). With a reset after
     * every object a stream holds the record it is reading and nothing more, whatever the master; the price is
     * the class descriptions written again per record, which the shuffle's compression mostly takes back.
     */
    static <V> JavaPairRDD<Long, V> sortedByReplica(JavaPairRDD<Long, V> pairs, int replicas) {
        ClassTag<Long> keys = ClassTag$.MODULE$.apply(Long.class);
        ClassTag<V> values = pairs.vClassTag();
        ShuffledRDD<Long, V, V> shuffled = new ShuffledRDD<>(pairs.rdd(), new ByReplica(replicas), keys, values, values);
        shuffled.setKeyOrdering(Ordering.comparatorToOrdering(Comparator.<Long>naturalOrder()));
        shuffled.setSerializer(ROUTING_SERIALIZER);
        return new JavaPairRDD<>(shuffled, keys, values);
    }

    /** Java serialization with a reset after every object: see {@link #sortedByReplica}. */
    static final Serializer ROUTING_SERIALIZER =
            new JavaSerializer(new SparkConf(false).set("spark.serializer.objectStreamReset", "1"));

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
