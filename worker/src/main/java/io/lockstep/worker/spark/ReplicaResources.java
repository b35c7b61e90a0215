package io.lockstep.worker.spark;

import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;

/**
 * Binds a replica to the compute its task was given.
 *
 * <p>GPU: when Spark's resource scheduling assigned the task a GPU ({@code spark.task.resource.gpu.amount=1}),
 * the replica's thread is bound to that device address. CPU: ND4J and OneDNN use {@code threads}
 * threads; the driver computes it from the task's CPU share ({@code spark.task.cpus}, or in local mode
 * the machine's cores divided by the replicas). ND4J's thread count is process-wide, so replicas that
 * share an executor JVM must agree on it, which they do because the driver computes one value.
 */
public final class ReplicaResources {
    private static final Logger LOG = LoggerFactory.getLogger(ReplicaResources.class);

    private ReplicaResources() {
    }

    public static void configureThreads(TaskContext context, int threads) {
        Map<String, ResourceInformation> resources = context.resourcesJMap();
        ResourceInformation gpu = resources.get("gpu");
        if (gpu != null && gpu.addresses().length > 0) {
            int device = Integer.parseInt(gpu.addresses()[0].trim());
            Nd4j.getAffinityManager().unsafeSetDevice(device);
            LOG.info("replica {} uses GPU {}", context.partitionId(), device);
            return;
        }
        int n = Math.max(1, threads);
        if (Nd4j.getEnvironment().maxThreads() != n) {
            Nd4j.getEnvironment().setMaxThreads(n);
            Nd4j.getEnvironment().setMaxMasterThreads(n);
        }
        LOG.info("replica {} computes with {} ND4J thread(s)", context.partitionId(), n);
    }
}
