package io.lockstep.driver.cluster;

import io.lockstep.driver.cli.UserError;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Stops a job before training when the cluster cannot run it, naming the setting and the fix: a
 * barrier stage needs all replicas at once, refuses dynamic allocation, and each replica on a GPU
 * needs a GPU of its own.
 */
public final class ClusterPreflight {
    /** Spark's own switch; barrier stages refuse to run while it is on. */
    static final String DYNAMIC_ALLOCATION = "spark.dynamicAllocation.enabled";
    private static final long LOCAL_EXECUTOR_WAIT_MS = 30_000;

    private ClusterPreflight() {
    }

    /** What a job asks of the cluster. */
    record Demand(int replicas, int taskCpus, int taskGpus, boolean gpusIsolatedPerContainer) {
    }

    /** The demand of the job running in {@code sc}. */
    static Demand demandOf(SparkConf conf, int replicas) {
        return new Demand(replicas, conf.getInt("spark.task.cpus", 1), GpuScheduling.requested(conf) ? 1 : 0,
                conf.get("spark.master", "").startsWith("k8s://"));
    }

    /**
     * Checks the settings, then waits up to {@code slotWaitMs} for executors offering {@code replicas}
     * task slots (in local mode only for the local executor to be known).
     *
     * @throws UserError naming the setting and the fix
     */
    public static void check(JavaSparkContext sc, int replicas, long slotWaitMs) {
        SparkConf conf = sc.getConf();
        checkSettings(conf);
        Demand demand = demandOf(conf, replicas);
        ExecutorRegistry registry = ExecutorRegistry.of(sc.sc());
        boolean local = isLocal(sc.master());
        // Local mode has all its slots from the start, but the listener hears of its one executor
        // asynchronously: wait only for that event there, and for enough slots on a cluster.
        long deadline = System.nanoTime() + (local ? LOCAL_EXECUTOR_WAIT_MS : slotWaitMs) * 1_000_000L;
        List<ExecutorSlots> executors = registry.executors();
        while ((local ? executors.isEmpty() : slots(executors, demand) < replicas) && System.nanoTime() < deadline) {
            try {
                Thread.sleep(200); // executors register asynchronously; Spark offers no event to await here
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for executors", e);
            }
            executors = registry.executors();
        }
        check(executors, demand, local, slotWaitMs);
    }

    /** {@code local} or {@code local[N]}: one in-process executor ({@code local-cluster} has real ones). */
    static boolean isLocal(String master) {
        return master.equals("local") || master.startsWith("local[");
    }

    /** Settings that make a barrier stage impossible, whatever the executors. */
    public static void checkSettings(SparkConf conf) {
        if (conf.getBoolean(DYNAMIC_ALLOCATION, false)) {
            throw new UserError(DYNAMIC_ALLOCATION + "=true, but Lockstep runs each epoch as a barrier stage and Spark "
                    + "refuses barrier stages under dynamic allocation: set --conf " + DYNAMIC_ALLOCATION + "=false and give "
                    + "the job fixed executors (spark.executor.instances on YARN and Kubernetes, spark.cores.max on standalone)");
        }
    }

    /** The slot and GPU checks on a snapshot of the registered executors. */
    static void check(List<ExecutorSlots> executors, Demand demand, boolean local, long slotWaitMs) {
        if (demand.taskGpus() > 0 && !local) {
            List<String> without = executors.stream().filter(e -> e.gpus().isEmpty() && !"driver".equals(e.id()))
                    .map(e -> e.id() + "@" + e.host()).toList();
            if (!without.isEmpty()) {
                throw new UserError("GPUs were requested (spark.executor.resource.gpu.amount / spark.task.resource.gpu.amount)"
                        + " but executors " + without + " were assigned none: give executors GPUs with "
                        + "spark.executor.resource.gpu.amount=<GPUs per executor> and "
                        + "spark.executor.resource.gpu.discoveryScript=<path to deploy/gpu/getGpusResources.sh on every host> "
                        + "(on YARN the NodeManagers must offer yarn.io/gpu; on Kubernetes the nodes need the NVIDIA device plugin)");
            }
            if (!demand.gpusIsolatedPerContainer()) {
                checkNoSharedGpu(executors);
            }
        }
        int slots = slots(executors, demand);
        if (slots < demand.replicas()) {
            String unit = demand.taskGpus() > 0
                    ? "slots of spark.task.cpus=" + demand.taskCpus() + " core(s) and one GPU each"
                    : "slots of spark.task.cpus=" + demand.taskCpus() + " core(s) each";
            throw new UserError("--replicas " + demand.replicas() + " needs " + demand.replicas() + " task slots at once, "
                    + "but the cluster offers " + slots + " (" + unit + ", on " + executors.size() + " executor(s)"
                    + (local ? "" : ", after waiting up to " + slotWaitMs + " ms for executors") + "); add executors or cores"
                    + (demand.taskGpus() > 0 ? " or GPUs" : "") + " (spark.executor.instances, spark.executor.cores, "
                    + "spark.cores.max), or lower --replicas");
        }
    }

    static int slots(List<ExecutorSlots> executors, Demand demand) {
        int slots = 0;
        for (ExecutorSlots executor : executors) {
            slots += executor.taskSlots(demand.taskCpus(), demand.taskGpus());
        }
        return slots;
    }

    /**
     * Two executors on one host that report the same GPU address would put two replicas on one device
     * (the discovery script listed every GPU of the host to each executor). Kubernetes' device plugin
     * isolates GPUs per pod, where every pod sees its own device as address 0, so this is not checked there.
     */
    private static void checkNoSharedGpu(List<ExecutorSlots> executors) {
        Map<String, String> owner = new HashMap<>();
        Map<String, List<String>> shared = new TreeMap<>();
        for (ExecutorSlots executor : executors) {
            for (String gpu : executor.gpus()) {
                String device = executor.host() + " GPU " + gpu;
                String first = owner.putIfAbsent(device, executor.id());
                if (first != null) {
                    shared.computeIfAbsent(device, d -> new ArrayList<>(List.of(first))).add(executor.id());
                }
            }
        }
        if (!shared.isEmpty()) {
            StringBuilder which = new StringBuilder();
            shared.forEach((device, ids) -> which.append(which.isEmpty() ? "" : "; ").append(device)
                    .append(" is assigned to executors ").append(ids));
            throw new UserError(which + ": two replicas would share one GPU. Let the cluster manager assign GPUs "
                    + "(standalone: spark.worker.resource.gpu.amount and spark.worker.resource.gpu.discoveryScript on "
                    + "each Worker; YARN: the NodeManager's yarn.io/gpu resource with GPU isolation), or run one "
                    + "executor per host with spark.executor.resource.gpu.amount equal to the host's GPUs");
        }
    }
}
