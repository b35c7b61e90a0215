package io.lockstep.worker.spark;

import io.lockstep.worker.device.Backend;
import io.lockstep.worker.train.ComputeThreads;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.OptionalInt;

/**
 * Binds a replica to the compute its task was given, after checking it is what the job asked for.
 *
 * <p>GPU: when Spark's resource scheduling assigned the task a GPU, the replica's thread is bound to
 * that device address (its prefetch thread inherits the binding). Before that, a replica stops with a
 * message naming the setting and the fix when GPUs were requested but none was assigned, when it was
 * given a GPU on a CPU build, or when this is a CUDA build whose CUDA backend did not load (ND4J would
 * silently train on the CPU). CPU: the ops this task thread issues (training, evaluation, and through
 * the prefetcher batch assembly) use {@code threads} threads ({@link ComputeThreads}); the driver
 * computes it from the task's CPU share ({@code spark.task.cpus}, or in local mode the machine's cores
 * divided by the replicas). The count is logged as it is in force, which is lower than asked only when
 * the executor process started with fewer ({@code OMP_NUM_THREADS}).
 */
public final class ReplicaResources {
    private static final Logger LOG = LoggerFactory.getLogger(ReplicaResources.class);

    private ReplicaResources() {
    }

    public static void configureThreads(TaskContext context, int threads) {
        ResourceInformation gpu = context.resourcesJMap().get("gpu");
        List<String> gpus = gpu == null ? List.of() : List.of(gpu.addresses());
        SparkEnv env = SparkEnv.get();
        boolean requested = env != null && gpusRequested(env.conf());
        OptionalInt device = device(context.partitionId(), gpus, requested, Backend.cudaBuilt(), Backend.cudaLoaded(),
                Backend.loadedName());
        if (device.isPresent()) {
            Nd4j.getAffinityManager().unsafeSetDevice(device.getAsInt());
            LOG.info("replica {} uses GPU {}", context.partitionId(), device.getAsInt());
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

    static boolean gpusRequested(SparkConf conf) {
        return positive(conf.get("spark.executor.resource.gpu.amount", "0"))
                || positive(conf.get("spark.task.resource.gpu.amount", "0"));
    }

    private static boolean positive(String amount) {
        try {
            return Double.parseDouble(amount.trim()) > 0;
        } catch (NumberFormatException e) {
            return false; // the driver already stopped the job naming the malformed amount
        }
    }

    /**
     * The GPU a replica must use, or empty for the CPU.
     *
     * @param gpus        the GPU addresses Spark assigned to the task
     * @param requested   whether the job asked for GPUs
     * @param cudaBuilt   whether ND4J's CUDA backend is on the classpath
     * @param cudaLoaded  whether ND4J runs on it
     * @param backendName the backend ND4J loaded, for messages
     * @throws IllegalStateException naming the setting and the fix, before any training
     */
    static OptionalInt device(int rank, List<String> gpus, boolean requested, boolean cudaBuilt, boolean cudaLoaded,
                              String backendName) {
        if (cudaBuilt && !cudaLoaded) {
            throw new IllegalStateException("replica " + rank + ": this is a CUDA build of Lockstep but ND4J loaded " + backendName
                    + " on this executor, so it would train on the CPU; the executor log shows why the CUDA backend did not load."
                    + " Install an NVIDIA driver and the CUDA 11.6 runtime (libcudart.so.11.0, libcublas, cuDNN 8) on every GPU"
                    + " host and make them findable (spark.executorEnv.LD_LIBRARY_PATH), or submit the CPU build"
                    + " (mvn package without -Pcuda) and drop the GPU settings");
        }
        if (requested && gpus.isEmpty()) {
            throw new IllegalStateException("replica " + rank + ": GPUs were requested (spark.executor.resource.gpu.amount /"
                    + " spark.task.resource.gpu.amount) but Spark assigned this task none: set spark.executor.resource.gpu.amount"
                    + " and spark.executor.resource.gpu.discoveryScript (deploy/gpu/getGpusResources.sh) so executors own GPUs");
        }
        if (gpus.isEmpty()) {
            return OptionalInt.empty();
        }
        if (!cudaLoaded) {
            throw new IllegalStateException("replica " + rank + ": Spark assigned GPU " + gpus.get(0) + " but this is a CPU build"
                    + " of Lockstep (ND4J backend " + backendName + "): build the GPU jar with mvn -Pcuda -DskipTests package"
                    + " and submit it, or drop the GPU settings to train on CPUs");
        }
        String address = gpus.get(0).trim();
        try {
            return OptionalInt.of(Integer.parseInt(address));
        } catch (NumberFormatException e) {
            throw new IllegalStateException("replica " + rank + ": GPU address '" + address + "' is not a CUDA device index;"
                    + " the GPU discovery script must report indices (deploy/gpu/getGpusResources.sh does)");
        }
    }
}
