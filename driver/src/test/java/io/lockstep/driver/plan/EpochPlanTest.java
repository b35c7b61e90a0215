package io.lockstep.driver.plan;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EpochPlanTest {

    private static int[] shardSizes(EpochPlan plan) {
        int[] sizes = new int[plan.replicas()];
        for (int i = 0; i < plan.records(); i++) {
            int r = plan.replicaOf(i);
            if (r >= 0) {
                sizes[r]++;
            }
        }
        return sizes;
    }

    @Test
    void unevenDatasetGivesEveryReplicaTheSameNumberOfSteps() {
        for (int replicas = 1; replicas <= 5; replicas++) {
            EpochPlan plan = new EpochPlan(7, 0, replicas, 1003, 16);
            int expectedSteps = 1003 / (replicas * 16);
            assertEquals(expectedSteps, plan.stepsPerEpoch());
            for (int size : shardSizes(plan)) {
                assertEquals(expectedSteps * 16, size, "replicas=" + replicas);
            }
            assertEquals(1003 - expectedSteps * replicas * 16, plan.droppedRecords());
        }
    }

    @Test
    void ordersWithinAShardAreAPermutationOfItsPositions() {
        EpochPlan plan = new EpochPlan(3, 2, 3, 500, 8);
        for (int r = 0; r < 3; r++) {
            Set<Integer> orders = new HashSet<>();
            for (int i = 0; i < plan.records(); i++) {
                if (plan.replicaOf(i) == r) {
                    assertTrue(orders.add(plan.orderInShard(i)));
                }
            }
            for (int o = 0; o < plan.stepsPerEpoch() * 8; o++) {
                assertTrue(orders.contains(o), "missing order " + o);
                assertEquals(r, plan.replicaOf(plan.recordAt(r, o)));
                assertEquals(o, plan.orderInShard(plan.recordAt(r, o)));
            }
        }
    }

    @Test
    void nReplicasOfBatchBSeeTheGlobalBatchesOfOneReplicaWithBatchNB() {
        EpochPlan distributed = new EpochPlan(11, 1, 2, 301, 5);
        EpochPlan single = new EpochPlan(11, 1, 1, 301, 10);
        assertEquals(single.stepsPerEpoch(), distributed.stepsPerEpoch());
        for (int step = 0; step < single.stepsPerEpoch(); step++) {
            List<Integer> global = new ArrayList<>();
            for (int k = 0; k < 10; k++) {
                global.add(single.recordAt(0, step * 10 + k));
            }
            List<Integer> fromReplicas = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                for (int k = 0; k < 5; k++) {
                    fromReplicas.add(distributed.recordAt(r, step * 5 + k));
                }
            }
            assertEquals(global, fromReplicas, "step " + step);
        }
    }

    @Test
    void sameSeedSamePlanOtherEpochOtherShuffle() {
        EpochPlan a = new EpochPlan(42, 3, 2, 1000, 10);
        EpochPlan b = new EpochPlan(42, 3, 2, 1000, 10);
        EpochPlan nextEpoch = new EpochPlan(42, 4, 2, 1000, 10);
        int differences = 0;
        for (int i = 0; i < 1000; i++) {
            assertEquals(a.replicaOf(i), b.replicaOf(i));
            assertEquals(a.orderInShard(i), b.orderInShard(i));
            if (a.orderInShard(i) != nextEpoch.orderInShard(i)) {
                differences++;
            }
        }
        assertNotEquals(0, differences);
    }

    @Test
    void rejectsADatasetSmallerThanOneGlobalBatch() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new EpochPlan(1, 0, 4, 100, 32));
        assertTrue(e.getMessage().contains("--batch-size"), e.getMessage());
    }
}
