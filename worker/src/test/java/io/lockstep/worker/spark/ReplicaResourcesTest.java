package io.lockstep.worker.spark;

import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A replica stops before training, naming the setting and the fix, when its device is not what the job asked for. */
class ReplicaResourcesTest {
    private static final String CPU = "org.nd4j.linalg.cpu.nativecpu.CpuBackend";
    private static final String CUDA = "org.nd4j.linalg.jcublas.JCublasBackend";

    @Test
    void aCpuReplicaWithoutGpuSettingsTrainsOnTheCpu() {
        assertEquals(OptionalInt.empty(), ReplicaResources.device(0, List.of(), false, false, false, CPU));
    }

    @Test
    void aGpuReplicaIsBoundToTheAddressSparkAssigned() {
        assertEquals(OptionalInt.of(3), ReplicaResources.device(1, List.of("3"), true, true, true, CUDA));
    }

    @Test
    void aCudaBuildWhoseBackendFellBackToTheCpuStops() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> ReplicaResources.device(0, List.of("0"), true, true, false, CPU));
        assertTrue(e.getMessage().contains("this is a CUDA build of Lockstep but ND4J loaded " + CPU), e.getMessage());
        assertTrue(e.getMessage().contains("CUDA 11.6 runtime"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> ReplicaResources.device(0, List.of(), false, true, false, CPU),
                "a CUDA build never trains on the CPU unannounced, GPU settings or not");
    }

    @Test
    void gpusRequestedButNoneAssignedStops() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> ReplicaResources.device(2, List.of(), true, true, true, CUDA));
        assertTrue(e.getMessage().startsWith("replica 2: GPUs were requested"), e.getMessage());
        assertTrue(e.getMessage().contains("spark.executor.resource.gpu.discoveryScript"), e.getMessage());
    }

    @Test
    void aGpuGivenToACpuBuildStopsNamingTheCudaBuild() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> ReplicaResources.device(0, List.of("0"), true, false, false, CPU));
        assertTrue(e.getMessage().contains("mvn -Pcuda -DskipTests package"), e.getMessage());
    }

    @Test
    void aGpuAddressThatIsNotAnIndexIsNamed() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> ReplicaResources.device(0, List.of("GPU-5f1c"), true, true, true, CUDA));
        assertTrue(e.getMessage().contains("'GPU-5f1c' is not a CUDA device index"), e.getMessage());
    }

    @Test
    void gpusAreRequestedThroughExecutorOrTaskAmounts() {
        assertTrue(ReplicaResources.gpusRequested(new SparkConf(false).set("spark.executor.resource.gpu.amount", "1")));
        assertTrue(ReplicaResources.gpusRequested(new SparkConf(false).set("spark.task.resource.gpu.amount", "0.5")));
        assertFalse(ReplicaResources.gpusRequested(new SparkConf(false)));
    }
}
