package io.lockstep.worker.spark;

import io.lockstep.worker.train.ComputeThreads;
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
 * the replica's thread is bound to that device address. CPU: the ops this task thread issues (training,
 * evaluation, and through the prefetcher batch assembly) use {@code threads} threads
 * ({@link ComputeThreads}); the driver computes it from the task's CPU share ({@code spark.task.cpus},
 * or in local mode the machine's cores divided by the replicas). The count is logged as it is in force,
 * which is lower than asked only when the executor process started with fewer ({@code OMP_NUM_THREADS}).
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
        int inForce = ComputeThreads.bind(Math.max(1, threads));
        if (inForce < threads) {
            LOG.warn("replica {} asked for {} compute threads but this executor allows at most {} (its OMP_NUM_THREADS "
                    + "or core count at start); it computes with {}", context.partitionId(), threads,
                    ComputeThreads.processLimit(), inForce);
        }
        LOG.info("replica {} computes with {} thread(s) in force ({})", context.partitionId(), inForce,
                ComputeThreads.describe());
    }
}
