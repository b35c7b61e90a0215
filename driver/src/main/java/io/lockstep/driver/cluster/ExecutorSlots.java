package io.lockstep.driver.cluster;

import java.util.List;

/**
 * One registered executor as the slot check sees it.
 *
 * @param id   Spark's executor id ("driver" in local mode)
 * @param host the host the executor runs on
 * @param cores the executor's cores
 * @param gpus the GPU addresses Spark assigned to the executor (empty without GPU scheduling)
 */
public record ExecutorSlots(String id, String host, int cores, List<String> gpus) {
    public ExecutorSlots {
        gpus = List.copyOf(gpus);
    }

    /** Tasks this executor can run at once, each taking {@code taskCpus} cores and {@code taskGpus} GPUs. */
    int taskSlots(int taskCpus, int taskGpus) {
        int byCpu = cores / Math.max(1, taskCpus);
        return taskGpus > 0 ? Math.min(byCpu, gpus.size() / taskGpus) : byCpu;
    }
}
