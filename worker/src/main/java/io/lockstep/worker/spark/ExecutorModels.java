package io.lockstep.worker.spark;

import org.apache.spark.SparkEnv;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One inference model per executor JVM: the tasks of a prediction job share the network deserialized
 * from its broadcast instead of each building its own. Keyed by application and broadcast id; the two
 * most recently used models are kept, so a long-lived executor does not accumulate finished jobs' models.
 *
 * <p>DL4J networks are not safe for concurrent {@code output} calls: callers synchronize on the
 * returned graph (each call is a whole batch, so tasks still overlap in decoding).
 */
public final class ExecutorModels {
    private static final int KEEP = 2;
    private static final Map<String, ComputationGraph> MODELS = new LinkedHashMap<>(4, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, ComputationGraph> eldest) {
            return size() > KEEP;
        }
    };

    private ExecutorModels() {
    }

    /** The network in {@code model} (ModelSerializer bytes), deserialized once per JVM. */
    public static ComputationGraph get(Broadcast<byte[]> model) {
        // Broadcast ids restart with every SparkContext, and a JVM may outlive one (local mode, tests).
        String key = SparkEnv.get().conf().getAppId() + "/" + model.id();
        synchronized (MODELS) {
            ComputationGraph graph = MODELS.get(key);
            if (graph == null) {
                try {
                    graph = ModelSerializer.restoreComputationGraph(new ByteArrayInputStream(model.value()), false);
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot load the broadcast model: " + e.getMessage(), e);
                }
                MODELS.put(key, graph);
            }
            return graph;
        }
    }
}
