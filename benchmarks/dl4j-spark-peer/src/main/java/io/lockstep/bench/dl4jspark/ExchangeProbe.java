package io.lockstep.bench.dl4jspark;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.parameterserver.distributed.v2.ModelParameterServer;
import org.nd4j.parameterserver.distributed.v2.transport.UpdatesHandler;
import org.reactivestreams.Subscription;

import java.io.Serializable;
import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Answers, per JVM, the question the benchmark must not guess: did DL4J's training really run data-parallel?
 * A training listener (shipped to every executor with the model) counts the local training iterations
 * and the distinct trainer threads, and, for SharedTrainingMaster, subscribes once per JVM to DL4J's
 * {@link ModelParameterServer} to count the threshold-encoded updates that arrived <em>from the network</em>.
 * An executor that trained but received no update from the network trained alone.
 *
 * <p>The counters are per-JVM statics on purpose (they outlive the per-task copies of the listener);
 * {@link #snapshot()} is read by a small Spark job after training. Threads: the listener is called by
 * DL4J's trainer threads; the update counter by DL4J's transport thread; all counters are atomics.
 */
public final class ExchangeProbe extends BaseTrainingListener implements Serializable {
    private static final long serialVersionUID = 1L;

    private static final AtomicLong ITERATIONS = new AtomicLong();
    private static final AtomicLong NETWORK_UPDATES = new AtomicLong();
    private static final AtomicLong NETWORK_UPDATE_ELEMENTS = new AtomicLong();
    private static final AtomicBoolean SUBSCRIBED = new AtomicBoolean();
    private static final Set<String> TRAINER_THREADS = ConcurrentHashMap.newKeySet();
    private static final ConcurrentHashMap<Integer, double[]> LEARNING_RATE_BY_EPOCH = new ConcurrentHashMap<>();

    private final boolean countNetworkUpdates;

    ExchangeProbe(boolean countNetworkUpdates) {
        this.countNetworkUpdates = countNetworkUpdates;
    }

    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        ITERATIONS.incrementAndGet();
        TRAINER_THREADS.add(Thread.currentThread().getName());
        if (model instanceof ComputationGraph graph) {
            double rate = graph.getLearningRate("conv1") == null ? Double.NaN : graph.getLearningRate("conv1");
            LEARNING_RATE_BY_EPOCH.compute(epoch, (e, range) -> range == null ? new double[]{rate, rate}
                    : new double[]{Math.min(range[0], rate), Math.max(range[1], rate)});
        }
        // Subscribe only once the worker's own consumer is registered: DL4J serves parameter requests
        // from the first subscriber, which must stay the worker's.
        if (countNetworkUpdates && ModelParameterServer.getInstance().isInitialized() && SUBSCRIBED.compareAndSet(false, true)) {
            ModelParameterServer.getInstance().addUpdatesSubscriber(new Counter());
        }
    }

    /** This JVM's counters, plus its identity, as plain values for the driver. */
    static Map<String, Object> snapshot() {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("jvm", ManagementFactory.getRuntimeMXBean().getName());
        s.put("executor", org.apache.spark.SparkEnv.get() == null ? "?" : org.apache.spark.SparkEnv.get().executorId());
        s.put("host", hostAddresses());
        s.put("training_iterations", ITERATIONS.get());
        s.put("trainer_threads", TRAINER_THREADS.size());
        s.put("network_update_counter_attached", SUBSCRIBED.get());
        s.put("updates_received_from_network", NETWORK_UPDATES.get());
        s.put("update_message_elements_received", NETWORK_UPDATE_ELEMENTS.get());
        Map<String, double[]> rates = new LinkedHashMap<>();
        LEARNING_RATE_BY_EPOCH.forEach((e, r) -> rates.put(String.valueOf(e), r.clone()));
        s.put("learning_rate_range_by_epoch", rates);
        s.put("onednn_conv_helper", OneDnnCheck.convolutionHelper());
        s.put("peak_rss_mb", peakRssMb());
        return s;
    }

    /**
     * This JVM's peak resident memory (VmHWM). Executors of a standalone cluster are children of its
     * Workers, not of the benchmarked command, so the outside sampler never sees them; they report it here.
     */
    private static double peakRssMb() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (java.io.IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    private static String hostAddresses() {
        StringBuilder b = new StringBuilder();
        try {
            var interfaces = java.net.NetworkInterface.getNetworkInterfaces();
            while (interfaces.hasMoreElements()) {
                var nic = interfaces.nextElement();
                for (var address : java.util.Collections.list(nic.getInetAddresses())) {
                    if (address instanceof java.net.Inet4Address) {
                        b.append(b.length() == 0 ? "" : ",").append(nic.getName()).append('=').append(address.getHostAddress());
                    }
                }
            }
        } catch (java.net.SocketException e) {
            return "unknown (" + e.getMessage() + ")";
        }
        return b.toString();
    }

    /** Counts update messages handed to subscribers by DL4J's transport (they only come from other nodes). */
    private static final class Counter implements UpdatesHandler {
        @Override
        public INDArray getParametersArray() {
            return null;
        }

        @Override
        public void onSubscribe(Subscription subscription) {
        }

        @Override
        public void onNext(INDArray update) {
            NETWORK_UPDATES.incrementAndGet();
            NETWORK_UPDATE_ELEMENTS.addAndGet(update.length());
        }

        @Override
        public void onError(Throwable throwable) {
        }

        @Override
        public void onComplete() {
        }
    }
}
