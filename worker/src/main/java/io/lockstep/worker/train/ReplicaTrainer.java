package io.lockstep.worker.train;

import io.lockstep.models.TrainingBatches;
import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.ReduceOp;
import io.lockstep.worker.device.HostMemory;
import io.lockstep.worker.nn.SyncBatchNorms;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.zip.CRC32;

/**
 * One model replica's training loop: per step, take the prefetched batch, forward/backward, exchange
 * the gradient, apply the optimizer — identically on every replica. Also evaluates the replica's
 * slice of the test set and sums the confusion matrices over all replicas.
 *
 * <p>Owned by the task's training thread; not thread-safe. With a single replica the collective is
 * {@code null} and nothing is exchanged.
 */
public final class ReplicaTrainer {
    private static final Logger LOG = LoggerFactory.getLogger(ReplicaTrainer.class);

    private final ComputationGraph graph;
    private final Collective collective;
    private final GradientExchange exchange;
    private final ExchangeListener listener;
    private final LearningRateSchedule schedule;
    private final int checkEverySteps;
    private final long dataTimeoutMs;
    private final int rank;
    private boolean keepNetworkRates;
    private LayerRates layerRates = new LayerRates(java.util.Map.of());

    /**
     * @param graph           initialized model, identical on every replica
     * @param collective      the group, or {@code null} for a single replica
     * @param exchange        gradient exchange strategy
     * @param schedule        learning-rate schedule
     * @param checkEverySteps compare a parameter checksum across replicas every this many steps (0: never)
     * @param dataTimeoutMs   deadline for the prefetch thread to deliver a batch
     */
    public ReplicaTrainer(ComputationGraph graph, Collective collective, GradientExchange exchange,
                          LearningRateSchedule schedule, int checkEverySteps, long dataTimeoutMs) {
        this(graph, collective, exchange, schedule, checkEverySteps, dataTimeoutMs, NonFinitePolicy.STOP);
    }

    /**
     * @param nonFinitePolicy what to do when the exchanged gradient is not finite
     */
    public ReplicaTrainer(ComputationGraph graph, Collective collective, GradientExchange exchange,
                          LearningRateSchedule schedule, int checkEverySteps, long dataTimeoutMs,
                          NonFinitePolicy nonFinitePolicy) {
        this.graph = Objects.requireNonNull(graph, "graph");
        this.collective = collective;
        this.exchange = Objects.requireNonNull(exchange, "exchange");
        this.schedule = Objects.requireNonNull(schedule, "schedule");
        this.checkEverySteps = checkEverySteps;
        this.dataTimeoutMs = dataTimeoutMs;
        this.rank = collective == null ? 0 : collective.rank();
        this.listener = new ExchangeListener(exchange, nonFinitePolicy);
        useCacheMode(graph, CacheMode.DEVICE);
        LeanUpdaterBlock.install(graph);
        // The exchange must see each gradient first; the user's own listeners stay attached after it.
        List<TrainingListener> own = new ArrayList<>(graph.getListeners() == null ? List.of() : graph.getListeners());
        graph.setListeners(listener);
        graph.addListeners(own.toArray(TrainingListener[]::new));
        exchange.attach(graph);
    }

    /**
     * Sets DL4J's cache mode. With {@code NONE}, DL4J's default, a convolution layer's backward pass runs
     * its forward convolution again; {@code DEVICE} keeps the forward output for it instead, at the cost
     * of holding one copy of every convolution's output until the backward pass. The results are the
     * same to the bit; a training step of resnet18 at 3x32x32 takes about a sixth less time.
     */
    public static void useCacheMode(ComputationGraph graph, CacheMode mode) {
        // The configuration decides whether the forward pass opens the cache workspace, each layer
        // whether it keeps its output there: both must be set.
        graph.getConfiguration().setCacheMode(mode);
        graph.setCacheMode(mode);
    }

    /**
     * Leaves every layer's learning rate as the network's own updaters set it, instead of applying the
     * schedule each step (for networks the user configured). Call before training.
     */
    public ReplicaTrainer keepNetworkLearningRates() {
        this.keepNetworkRates = true;
        return this;
    }

    /**
     * Trains each layer at the schedule's rate times its multiplier; the graph must have been prepared with
     * {@link LayerRates#separate}. Call before training.
     */
    public ReplicaTrainer layerRates(LayerRates rates) {
        this.layerRates = Objects.requireNonNull(rates, "rates");
        return this;
    }

    public ComputationGraph graph() {
        return graph;
    }

    /** Called on the training thread after step {@code stepsDone - 1} of the epoch (e.g. to checkpoint). */
    @FunctionalInterface
    public interface StepHook {
        void afterStep(int epoch, int stepsDone, ComputationGraph graph);

        StepHook NONE = (epoch, stepsDone, graph) -> { };
    }

    /** Trains a whole epoch over {@code source}. */
    public EpochReport trainEpoch(int epoch, BatchSource source, StepObserver observer) throws InterruptedException {
        return trainEpoch(epoch, 0, source, observer, StepHook.NONE);
    }

    /**
     * Trains steps {@code firstStep .. firstStep + source.steps() - 1} of an epoch; {@code source}
     * delivers exactly those batches (a resumed epoch skips the steps already trained). The number of
     * steps must be equal on every replica.
     */
    public EpochReport trainEpoch(int epoch, int firstStep, BatchSource source, StepObserver observer, StepHook hook)
            throws InterruptedException {
        int steps = source.steps();
        int epochSteps = schedule.stepsPerEpoch();
        float[] loss = new float[steps];
        long[] dataWait = new long[steps];
        long[] compute = new long[steps];
        long[] normSync = new long[steps];
        long[] exchangeNanos = new long[steps];
        long[] bytes = new long[steps];
        java.util.Map<String, float[]> exchangeMetrics = new java.util.TreeMap<>();
        int examplesPerStep = 0;
        int skipped = 0;
        long epochStart = System.nanoTime();
        try (Prefetcher prefetcher = new Prefetcher(source, 2, "lockstep-prefetch-r" + rank + "-e" + epoch)) {
            for (int i = 0; i < steps; i++) {
                int step = firstStep + i;
                long t0 = System.nanoTime();
                DataSet batch = prefetcher.next(dataTimeoutMs);
                long t1 = System.nanoTime();
                long globalStep = (long) epoch * epochSteps + step;
                if (collective != null) {
                    collective.position(epoch, step);
                }
                listener.position(epoch, step);
                if (!keepNetworkRates) {
                    layerRates.apply(graph, schedule.rateAt(epoch, step));
                }
                SyncBatchNorms.resetCommunicationStats(graph);
                TrainingBatches.fit(graph, batch); // repeats the labels for auxiliary outputs (Inception-v3)
                exchange.afterStep(graph, epoch, globalStep);
                double score = graph.score();
                long t2 = System.nanoTime();
                if (listener.skippedThisStep()) {
                    skipped++;
                } else if (!Double.isFinite(score) && collective == null) {
                    throw new TrainingDivergedException("loss became " + score + " at epoch " + (epoch + 1)
                            + ", step " + (step + 1) + "; lower the learning rate, check the input data, or use --on-nan skip-step",
                            epoch, step);
                }
                examplesPerStep = batch.numExamples();
                loss[i] = (float) score;
                dataWait[i] = t1 - t0;
                exchangeNanos[i] = exchange.lastExchangeNanos();
                normSync[i] = SyncBatchNorms.communicationNanos(graph);
                compute[i] = (t2 - t1) - exchangeNanos[i] - normSync[i];
                bytes[i] = exchange.lastBytesSent();
                java.util.Map<String, Double> stepMetrics = exchange.lastStepMetrics();
                for (java.util.Map.Entry<String, Double> metric : stepMetrics.entrySet()) {
                    exchangeMetrics.computeIfAbsent(metric.getKey(), k -> new float[steps])[i] = metric.getValue().floatValue();
                }
                observer.stepDone(new StepTiming(rank, epoch, step, epochSteps, score, examplesPerStep, dataWait[i], compute[i],
                        normSync[i], exchangeNanos[i], bytes[i], java.util.Map.copyOf(stepMetrics)));
                if (checkEverySteps > 0 && (globalStep + 1) % checkEverySteps == 0 && exchange.replicasInSync()) {
                    verifyReplicasAgree(epoch, step);
                }
                hook.afterStep(epoch, step + 1, graph);
            }
        }
        graph.incrementEpochCount();
        return new EpochReport(rank, epoch, firstStep, examplesPerStep, loss, dataWait, compute, normSync, exchangeNanos, bytes,
                exchangeMetrics, skipped, System.nanoTime() - epochStart, 0, 0, new long[0], null, List.of());
    }

    /**
     * Evaluates this replica's slice of the test set and sums the confusion matrix over all replicas
     * (every replica must call it). Inference never communicates, so slices may differ in size.
     *
     * @return the report with the global confusion matrix attached
     */
    public EpochReport evaluate(EpochReport trained, Iterable<DataSet> testBatches, int numClasses) {
        long start = System.nanoTime();
        double[] confusion = new double[numClasses * numClasses];
        for (DataSet batch : testBatches) {
            int[] predicted = graph.output(false, batch.getFeatures())[0].argMax(1).toIntVector();
            int[] actual = batch.getLabels().argMax(1).toIntVector();
            for (int i = 0; i < predicted.length; i++) {
                int truth = actual[i];
                int guess = predicted[i];
                confusion[truth * numClasses + guess] += 1;
            }
        }
        if (collective != null) {
            // Counts are integers far below 2^53: the double sum is exact.
            collective.allReduce(confusion, ReduceOp.SUM);
        }
        long[] counts = new long[confusion.length];
        for (int i = 0; i < counts.length; i++) {
            counts[i] = Math.round(confusion[i]);
        }
        return trained.withEvaluation(System.nanoTime() - start, numClasses, counts);
    }

    /** CRC32 of the raw parameter bits: equal on every replica exactly when parameters are bit-identical. */
    public long parameterChecksum() {
        INDArray params = graph.params();
        ByteBuffer bytes = HostMemory.bytes(params);
        CRC32 crc = new CRC32();
        crc.update(bytes.duplicate());
        return crc.getValue();
    }

    /**
     * Compares the parameter checksum of every replica; fails loudly naming the replicas that differ
     * from rank 0. Identical inputs to identical updaters must give identical bits, so any difference
     * is a bug or a corrupted exchange, never noise.
     */
    public void verifyReplicasAgree(int epoch, long step) {
        if (collective == null || collective.size() == 1) {
            return;
        }
        long mine = parameterChecksum();
        byte[][] all = collective.allGather(ByteBuffer.allocate(Long.BYTES).putLong(mine).array());
        long reference = ByteBuffer.wrap(all[0]).getLong();
        List<Integer> differing = new ArrayList<>();
        for (int r = 0; r < all.length; r++) {
            if (ByteBuffer.wrap(all[r]).getLong() != reference) {
                differing.add(r);
            }
        }
        if (!differing.isEmpty()) {
            throw new TrainingDivergedException("replicas diverged at epoch " + (epoch + 1) + ", step " + (step + 1)
                    + ": parameters of ranks " + differing + " differ from rank 0 (checksums "
                    + Arrays.toString(Arrays.stream(all).mapToLong(b -> ByteBuffer.wrap(b).getLong()).toArray())
                    + ")", epoch, step);
        }
        LOG.debug("replicas agree at epoch {} step {} (checksum {})", epoch, step, Long.toHexString(mine));
    }
}
