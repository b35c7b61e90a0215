package io.lockstep.driver.cluster;

import io.lockstep.driver.cli.UserError;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The checks that stop a job before training, each with a message naming the setting and the fix. */
class ClusterPreflightTest {
    private static final List<String> NO_GPU = List.of();

    private static ClusterPreflight.Demand cpus(int replicas) {
        return new ClusterPreflight.Demand(replicas, 1, 0, false);
    }

    private static ClusterPreflight.Demand gpus(int replicas) {
        return new ClusterPreflight.Demand(replicas, 1, 1, false);
    }

    @Test
    void onlyInProcessMastersCountAsLocal() {
        assertTrue(ClusterPreflight.isLocal("local"));
        assertTrue(ClusterPreflight.isLocal("local[2]"));
        assertTrue(ClusterPreflight.isLocal("local[*]"));
        assertTrue(!ClusterPreflight.isLocal("local-cluster[2,1,1024]"), "local-cluster executors register like a cluster's");
        assertTrue(!ClusterPreflight.isLocal("yarn"));
    }

    @Test
    void dynamicAllocationStopsTheJobNamingTheSetting() {
        SparkConf conf = new SparkConf(false).set("spark.dynamicAllocation.enabled", "true");
        UserError error = assertThrows(UserError.class, () -> ClusterPreflight.checkSettings(conf));
        assertTrue(error.getMessage().contains("spark.dynamicAllocation.enabled=false"), error.getMessage());
        assertDoesNotThrow(() -> ClusterPreflight.checkSettings(new SparkConf(false)));
    }

    @Test
    void tooFewSlotsNamesNeededAndFoundAndTheSettings() {
        List<ExecutorSlots> two = List.of(new ExecutorSlots("1", "h1", 1, NO_GPU), new ExecutorSlots("2", "h2", 1, NO_GPU));
        assertDoesNotThrow(() -> ClusterPreflight.check(two, cpus(2), false, 1000));
        UserError error = assertThrows(UserError.class, () -> ClusterPreflight.check(two, cpus(3), false, 1000));
        assertTrue(error.getMessage().startsWith("--replicas 3 needs 3 task slots at once, but the cluster offers 2"), error.getMessage());
        assertTrue(error.getMessage().contains("spark.executor.instances"), error.getMessage());
    }

    @Test
    void slotsCountCoresPerTaskAndGpus() {
        ExecutorSlots fourCoresTwoGpus = new ExecutorSlots("1", "h", 4, List.of("0", "1"));
        assertEquals(4, ClusterPreflight.slots(List.of(fourCoresTwoGpus), cpus(4)));
        assertEquals(2, ClusterPreflight.slots(List.of(fourCoresTwoGpus), new ClusterPreflight.Demand(2, 2, 0, false)));
        assertEquals(2, ClusterPreflight.slots(List.of(fourCoresTwoGpus), gpus(4)), "GPUs bound the slots, not cores");
        UserError error = assertThrows(UserError.class, () -> ClusterPreflight.check(List.of(fourCoresTwoGpus), gpus(3), false, 0));
        assertTrue(error.getMessage().contains("one GPU each"), error.getMessage());
    }

    @Test
    void gpuRequestedButNoneAssignedNamesTheExecutorsAndTheDiscoverySettings() {
        List<ExecutorSlots> executors = List.of(new ExecutorSlots("1", "h1", 2, List.of("0")), new ExecutorSlots("2", "h2", 2, NO_GPU));
        UserError error = assertThrows(UserError.class, () -> ClusterPreflight.check(executors, gpus(2), false, 0));
        assertTrue(error.getMessage().contains("executors [2@h2] were assigned none"), error.getMessage());
        assertTrue(error.getMessage().contains("spark.executor.resource.gpu.discoveryScript"), error.getMessage());
    }

    @Test
    void twoExecutorsOnOneHostWithTheSameGpuAreRefusedExceptWhereContainersIsolateGpus() {
        List<ExecutorSlots> executors = List.of(new ExecutorSlots("1", "h1", 1, List.of("0")), new ExecutorSlots("2", "h1", 1, List.of("0")));
        UserError error = assertThrows(UserError.class, () -> ClusterPreflight.check(executors, gpus(2), false, 0));
        assertTrue(error.getMessage().startsWith("h1 GPU 0 is assigned to executors [1, 2]: two replicas would share one GPU"),
                error.getMessage());
        assertDoesNotThrow(() -> ClusterPreflight.check(executors, new ClusterPreflight.Demand(2, 1, 1, true), false, 0),
                "on Kubernetes every pod sees its own GPU as address 0");
        List<ExecutorSlots> twoHosts = List.of(new ExecutorSlots("1", "h1", 1, List.of("0")), new ExecutorSlots("2", "h2", 1, List.of("0")));
        assertDoesNotThrow(() -> ClusterPreflight.check(twoHosts, gpus(2), false, 0));
    }

    @Test
    void gpusAreRequestedByExecutorOrTaskAmountsAndAMalformedAmountIsNamed() {
        assertTrue(GpuScheduling.requested(new SparkConf(false).set("spark.executor.resource.gpu.amount", "2")));
        assertTrue(GpuScheduling.requested(new SparkConf(false).set("spark.task.resource.gpu.amount", "1")));
        assertTrue(!GpuScheduling.requested(new SparkConf(false)));
        UserError error = assertThrows(UserError.class,
                () -> GpuScheduling.requested(new SparkConf(false).set("spark.executor.resource.gpu.amount", "one")));
        assertTrue(error.getMessage().contains("spark.executor.resource.gpu.amount=one"), error.getMessage());
    }

    @Test
    void theTrainingStageProfileAsksOneGpuAndTheTaskCoresPerReplicaAndNothingOfExecutors() {
        var profile = GpuScheduling.profile(new SparkConf(false).set("spark.task.cpus", "2"));
        assertEquals(1.0, profile.taskResourcesJMap().get("gpu").amount());
        assertEquals(2.0, profile.taskResourcesJMap().get("cpus").amount());
        assertTrue(profile.executorResourcesJMap().isEmpty(), "a task-only profile reuses the job's executors");
    }
}
