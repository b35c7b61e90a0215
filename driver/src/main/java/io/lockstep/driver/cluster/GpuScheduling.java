package io.lockstep.driver.cluster;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.resource.ResourceProfile;
import org.apache.spark.resource.ResourceProfileBuilder;
import org.apache.spark.resource.TaskResourceRequests;

/**
 * One GPU per replica task, for the barrier stage only.
 *
 * <p>GPUs are requested for a job by giving executors GPUs ({@code spark.executor.resource.gpu.amount}).
 * The training stage then carries a task-only resource profile (one GPU and {@code spark.task.cpus}
 * cores per task), so the job's other stages (reading, routing records) take no GPU and can run
 * beside a training task. Task-only profiles need dynamic allocation off, which barrier stages need
 * anyway; Spark supports them on standalone, YARN and Kubernetes, not in local mode.
 */
public final class GpuScheduling {
    private GpuScheduling() {
    }

    /** Whether the job asked for GPUs. */
    public static boolean requested(SparkConf conf) {
        return amount(conf, "spark.executor.resource.gpu.amount") > 0 || amount(conf, "spark.task.resource.gpu.amount") > 0;
    }

    /** {@code stage} with one GPU per task when GPUs were requested on a cluster; else {@code stage} unchanged. */
    public static <T> JavaRDD<T> onePerReplica(JavaRDD<T> stage, SparkConf conf) {
        if (!requested(conf) || ClusterPreflight.isLocal(conf.get("spark.master", "local"))) {
            return stage;
        }
        return stage.withResources(profile(conf));
    }

    static ResourceProfile profile(SparkConf conf) {
        return new ResourceProfileBuilder()
                .require(new TaskResourceRequests().cpus(conf.getInt("spark.task.cpus", 1)).resource("gpu", 1.0))
                .build();
    }

    private static double amount(SparkConf conf, String key) {
        String value = conf.get(key, "0").trim();
        try {
            return Double.parseDouble(value);
        } catch (NumberFormatException e) {
            throw new io.lockstep.driver.cli.UserError(key + "=" + value + " is not a number; give the GPUs per executor or task, e.g. 1");
        }
    }
}
