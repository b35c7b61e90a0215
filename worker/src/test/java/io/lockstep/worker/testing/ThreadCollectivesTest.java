package io.lockstep.worker.testing;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.CollectiveException;
import io.lockstep.worker.comm.CollectiveTimeoutException;
import io.lockstep.worker.comm.ReduceOp;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The test fixture itself must be right, or every test built on it proves nothing. */
class ThreadCollectivesTest {

    @Test
    void reductionsGatherAndBroadcastGiveEveryRankTheSameResult() throws Exception {
        List<Object[]> results = ThreadCollectives.create(3, 10_000).runOnAllRanks(30_000, collective -> {
            int r = collective.rank();
            double[] doubles = {r, 10.0 * r, 0.5};
            collective.allReduce(doubles, ReduceOp.SUM);
            float[] floats = {r, 1f};
            collective.allReduce(floats, 0, 2, ReduceOp.AVERAGE);
            byte[][] gathered = collective.allGather(new byte[] {(byte) r});
            float[] broadcast = {r, r};
            collective.broadcast(broadcast, 1, 1, 2);
            byte[] root = collective.broadcast(new byte[] {(byte) (40 + r)}, 0);
            collective.barrier();
            return new Object[] {doubles, floats, gathered, broadcast, root};
        });
        for (int r = 0; r < 3; r++) {
            Object[] mine = results.get(r);
            assertArrayEquals(new double[] {3, 30, 1.5}, (double[]) mine[0], 0.0);
            assertArrayEquals(new float[] {1f, 1f}, (float[]) mine[1], 0f);
            byte[][] gathered = (byte[][]) mine[2];
            for (int g = 0; g < 3; g++) {
                assertArrayEquals(new byte[] {(byte) g}, gathered[g]);
            }
            assertArrayEquals(new float[] {r, 2f}, (float[]) mine[3], 0f, "only [1,2) is overwritten by root 2");
            assertArrayEquals(new byte[] {40}, (byte[]) mine[4]);
        }
    }

    @Test
    void aSilentRankIsNamedWhenTheDeadlinePasses() throws Exception {
        ThreadCollectives group = ThreadCollectives.create(3, 300);
        List<Object> outcome = group.runOnAllRanks(30_000, collective -> {
            if (collective.rank() == 1) {
                return "silent";
            }
            return assertThrows(CollectiveException.class,
                    () -> collective.allReduce(new double[] {1}, ReduceOp.SUM));
        });
        List<CollectiveException> failures = List.of((CollectiveException) outcome.get(0), (CollectiveException) outcome.get(2));
        CollectiveTimeoutException timeout = (CollectiveTimeoutException) failures.stream()
                .filter(f -> f instanceof CollectiveTimeoutException).findFirst().orElseThrow();
        assertEquals(List.of(1), timeout.silentRanks());
        assertTrue(timeout.getMessage().contains("for ranks [1]"), timeout.getMessage());
    }

    @Test
    void mismatchedCallsFailOnEveryRankNamingBothCalls() throws Exception {
        List<String> messages = ThreadCollectives.create(2, 10_000).runOnAllRanks(30_000, collective -> {
            double[] buffer = new double[collective.rank() == 0 ? 3 : 4];
            return assertThrows(CollectiveException.class,
                    () -> collective.allReduce(buffer, ReduceOp.SUM)).getMessage();
        });
        for (String message : messages) {
            assertTrue(message.contains("double[3]") && message.contains("double[4]"), message);
        }
    }

    @Test
    void aRankFailureIsReportedAsTheRootCause() {
        ThreadCollectives group = ThreadCollectives.create(2, 500);
        Exception e = assertThrows(Exception.class, () -> group.runOnAllRanks(30_000, (Collective collective) -> {
            if (collective.rank() == 0) {
                throw new IllegalArgumentException("boom on rank 0");
            }
            collective.barrier();
            return null;
        }));
        assertInstanceOf(IllegalArgumentException.class, e.getCause(), e.toString());
    }
}
