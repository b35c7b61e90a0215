package io.lockstep.driver.cluster;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerApplicationEnd;
import org.apache.spark.scheduler.SparkListenerExecutorAdded;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.apache.spark.scheduler.cluster.ExecutorInfo;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The executors registered with this application, with their cores and GPUs.
 *
 * <p>Spark has no public query for an executor's cores or resources, only listener events; a listener
 * added after the context starts misses the executors that registered first. So this listener is
 * installed through {@code spark.extraListeners}, which Spark instantiates while creating the context
 * and which receives every event from the first. Spark constructs it; the driver finds it again by the
 * key {@link #install} put in the configuration.
 */
public final class ExecutorRegistry extends SparkListener {
    static final String KEY = "spark.lockstep.internal.executorRegistry";
    private static final Map<String, ExecutorRegistry> INSTANCES = new ConcurrentHashMap<>();

    private final String key;
    private final Map<String, ExecutorSlots> executors = new ConcurrentHashMap<>();

    /** Called by Spark (the {@code SparkConf} constructor is the one {@code spark.extraListeners} prefers). */
    public ExecutorRegistry(SparkConf conf) {
        this.key = conf.get(KEY, "");
        INSTANCES.put(key, this);
    }

    /** Adds the listener to {@code conf} (keeping listeners the user configured); call before creating the context. */
    public static SparkConf install(SparkConf conf) {
        String listeners = conf.get("spark.extraListeners", "").trim();
        conf.set(KEY, UUID.randomUUID().toString());
        conf.set("spark.extraListeners", listeners.isEmpty() ? ExecutorRegistry.class.getName()
                : listeners + "," + ExecutorRegistry.class.getName());
        return conf;
    }

    /** The registry of a context created from a configuration passed through {@link #install}. */
    public static ExecutorRegistry of(SparkContext sc) {
        return find(sc).orElseThrow(() -> new IllegalStateException(
                "the Spark context was created without ExecutorRegistry.install(conf)"));
    }

    /** The registry of {@code sc}, or empty when the context was created without {@link #install} (a caller's own). */
    public static java.util.Optional<ExecutorRegistry> find(SparkContext sc) {
        return java.util.Optional.ofNullable(INSTANCES.get(sc.getConf().get(KEY, "")));
    }

    public List<ExecutorSlots> executors() {
        return new ArrayList<>(executors.values());
    }

    @Override
    public void onExecutorAdded(SparkListenerExecutorAdded added) {
        ExecutorInfo info = added.executorInfo();
        List<String> gpus = new ArrayList<>();
        if (info.resourcesInfo().contains("gpu")) {
            ResourceInformation gpu = info.resourcesInfo().apply("gpu");
            for (String address : gpu.addresses()) {
                gpus.add(address.trim());
            }
        }
        executors.put(added.executorId(), new ExecutorSlots(added.executorId(), info.executorHost(), info.totalCores(), gpus));
    }

    @Override
    public void onApplicationEnd(SparkListenerApplicationEnd end) {
        INSTANCES.remove(key, this);
    }

    @Override
    public void onExecutorRemoved(SparkListenerExecutorRemoved removed) {
        executors.remove(removed.executorId());
    }
}
