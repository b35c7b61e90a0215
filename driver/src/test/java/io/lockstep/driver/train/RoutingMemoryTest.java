package io.lockstep.driver.train;

import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.spark.ShardItem;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import scala.Tuple2;

import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The routing shuffle lets go of every record a replica has read once its sorter has spilled: what a replica holds
 * stays bounded by the sorter's in-memory part, not by the number of records routed to it. Spark's default Java
 * serialization kept up to 100 records reachable per open spill stream, so two replicas of 0.8 MB images in one
 * 512 MB {@code local[2]} JVM ran out of heap merging their spills.
 *
 * <p>The sorter is made to spill every {@value #SPILL_EVERY} records (Spark's test setting for it), so the spill
 * files' streams hold at most a few records each under any serializer that lets go; half way through, the records
 * already consumed must be unreachable except the sorter's last in-memory part.
 */
class RoutingMemoryTest {
    private static final int REPLICAS = 2;
    private static final int PER_REPLICA = 300;
    private static final int SPILL_EVERY = 16;
    private static final int PAYLOAD_BYTES = 4096;
    /** Read records that may stay reachable half way: the sorter's last in-memory part (a spill happens past {@value #SPILL_EVERY}). */
    private static final int MAY_STAY = SPILL_EVERY + 2;
    private static final long COLLECTION_DEADLINE_SECONDS = 30;

    private static JavaSparkContext sc;

    @BeforeAll
    static void start() {
        sc = new JavaSparkContext(new SparkConf().setMaster("local[2]").setAppName("routing memory")
                .set("spark.ui.enabled", "false")
                .set("spark.shuffle.spill.numElementsForceSpillThreshold", Integer.toString(SPILL_EVERY)));
    }

    @AfterAll
    static void stop() {
        if (sc != null) {
            sc.stop();
        }
    }

    @Test
    void replicaStreamsItsShardInOrderAndLetsGoOfWhatItRead() {
        List<Tuple2<Long, ShardItem<LabeledRecord>>> records = new ArrayList<>();
        for (int replica = 0; replica < REPLICAS; replica++) {
            for (int order = 0; order < PER_REPLICA; order++) {
                byte[] payload = new byte[PAYLOAD_BYTES];
                payload[0] = (byte) order;
                records.add(new Tuple2<>(ShardKeys.key(replica, false, order),
                        new ShardItem<>(false, order, new LabeledRecord(replica, payload, "r" + replica + "/" + order))));
            }
            records.add(new Tuple2<>(ShardKeys.key(replica, true, 0),
                    new ShardItem<>(true, 0, new LabeledRecord(replica, new byte[1], "test" + replica))));
        }
        // Arrival order unrelated to plan order, over several map tasks, as from the cached read units.
        java.util.Collections.shuffle(records, new java.util.Random(new SplittableRandom(11).nextLong()));
        JavaPairRDD<Long, ShardItem<LabeledRecord>> pairs = sc.parallelizePairs(records, 8);

        List<int[]> perReplica = ShardKeys.sortedByReplica(pairs, REPLICAS).mapPartitionsWithIndex(
                (rank, items) -> List.of(consume(rank, items)).iterator(), false).collect();

        assertEquals(REPLICAS, perReplica.size());
        for (int rank = 0; rank < REPLICAS; rank++) {
            int[] seen = perReplica.get(rank);
            assertEquals(PER_REPLICA, seen[0], "replica " + rank + " receives its training records in plan order, then its test record");
            assertTrue(seen[1] <= MAY_STAY, "replica " + rank + " still held " + seen[1] + " of the " + PER_REPLICA / 2
                    + " records it had read half way through its shard (at most " + MAY_STAY
                    + " may stay: the sorter's last in-memory part)");
        }
    }

    /** Reads one replica's partition; returns {training records in order, records read but still reachable half way}. */
    private static int[] consume(int rank, Iterator<Tuple2<Long, ShardItem<LabeledRecord>>> items) throws InterruptedException {
        ReferenceQueue<LabeledRecord> collected = new ReferenceQueue<>();
        List<WeakReference<LabeledRecord>> read = new ArrayList<>();
        int inOrder = 0;
        int reachableHalfWay = -1;
        boolean testSeen = false;
        while (items.hasNext()) {
            Tuple2<Long, ShardItem<LabeledRecord>> item = items.next();
            if (ShardKeys.replica(item._1()) != rank) {
                throw new AssertionError("replica " + rank + " received " + item._2().record().describe());
            }
            if (item._2().test()) {
                testSeen = true;
                continue;
            }
            if (testSeen || item._2().order() != inOrder) {
                throw new AssertionError("replica " + rank + " expected training record " + inOrder + " but got "
                        + item._2().record().describe());
            }
            inOrder++;
            read.add(new WeakReference<>(item._2().record(), collected));
            item = null;
            if (inOrder == PER_REPLICA / 2) {
                reachableHalfWay = reachableAfterCollecting(read, collected);
            }
        }
        if (!testSeen) {
            throw new AssertionError("replica " + rank + " did not receive its test record");
        }
        return new int[] {inOrder, reachableHalfWay};
    }

    /**
     * Asks for collections until all but {@link #MAY_STAY} of the read records have been collected, or the deadline
     * passes; returns how many are still reachable. One {@code System.gc()} is a request, not a promise: HotSpot skips
     * the collection while any thread is inside a JNI critical region, as the other replica's task may be while it
     * decompresses shuffle blocks. So the test waits for the collector's word, the references it enqueues.
     */
    private static int reachableAfterCollecting(List<WeakReference<LabeledRecord>> read,
                                                ReferenceQueue<LabeledRecord> collected) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(COLLECTION_DEADLINE_SECONDS);
        int gone = 0;
        while (read.size() - gone > MAY_STAY && System.nanoTime() < deadline) {
            System.gc();
            for (Reference<?> cleared = collected.remove(1_000); cleared != null; cleared = collected.poll()) {
                gone++;
            }
        }
        return (int) read.stream().filter(r -> r.get() != null).count();
    }
}
