package io.lockstep.worker.spark;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.nn.ConvolutionSwap;
import io.lockstep.worker.train.BatchDecoder;
import io.lockstep.worker.train.BatchSource;
import io.lockstep.worker.train.CheckpointMeta;
import io.lockstep.worker.train.CheckpointStore;
import io.lockstep.worker.train.EpochReport;
import io.lockstep.worker.train.FrozenExchange;
import io.lockstep.worker.train.FrozenLayers;
import io.lockstep.worker.train.GradientExchange;
import io.lockstep.worker.train.LayerRates;
import io.lockstep.worker.train.NonFinitePolicy;
import io.lockstep.worker.train.ReplicaTrainer;
import io.lockstep.worker.train.StepObserver;
import io.lockstep.worker.train.TrainingDivergedException;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.dataset.DataSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;

/**
 * The body of one epoch's barrier stage: one Spark task is one replica. Runs on the executor.
 *
 * <p>Per task: rank = partition id; set the replica's ND4J threads (and GPU, on GPU clusters); open
 * the collective (one {@code allGather} rendezvous per stage); agree on where to start — the newest
 * checkpoint of this epoch if a previous attempt of the stage got that far, else the one the driver
 * named — and load it (or build the model from its recipe); train the remaining steps of the shard in
 * lockstep; evaluate this replica's slice of the test set; rank 0 writes the checkpoint that carries
 * the model to the next epoch. Returns one {@link EpochReport} per replica.
 *
 * <p>Because the epoch plan is a pure function of the seed, a stage retried after a lost executor
 * resumes at exactly the step its checkpoint recorded: no sample of the epoch is trained twice or
 * skipped.
 *
 * @param <R> record type of the dataset
 */
public final class ReplicaStage<R> implements FlatMapFunction<Iterator<Tuple2<Long, ShardItem<R>>>, EpochReport> {
    private static final Logger LOG = LoggerFactory.getLogger(ReplicaStage.class);

    private final StageSpec spec;
    private final BatchDecoder<R> decoder;
    private final SerializableHadoopConf hadoopConf;
    private final TaskProgress progress;

    public ReplicaStage(StageSpec spec, BatchDecoder<R> decoder, SerializableHadoopConf hadoopConf, TaskProgress progress) {
        this.spec = spec;
        this.decoder = decoder;
        this.hadoopConf = hadoopConf;
        this.progress = progress;
    }

    /** Where a replica starts: a checkpoint (or none: build from the recipe) and the first step to train. */
    private record Start(String checkpoint, int firstStep) {
        byte[] encode() {
            return ((checkpoint == null ? "" : checkpoint) + "\n" + firstStep).getBytes(StandardCharsets.UTF_8);
        }

        static Start decode(byte[] bytes) {
            String[] parts = new String(bytes, StandardCharsets.UTF_8).split("\n", 2);
            return new Start(parts[0].isEmpty() ? null : parts[0], Integer.parseInt(parts[1]));
        }
    }

    @Override
    public Iterator<EpochReport> call(Iterator<Tuple2<Long, ShardItem<R>>> items) throws Exception {
        BarrierTaskContext context = BarrierTaskContext.get();
        int rank = context.partitionId();
        ShardStream<R> shard = new ShardStream<>(items, rank, spec.stepsPerEpoch() * spec.batchPerReplica());

        ReplicaResources.configureThreads(context, spec.threadsPerReplica());
        CheckpointStore store = new CheckpointStore(spec.checkpointUri(), hadoopConf.get());
        try (Collective collective = spec.replicas() > 1
                ? ExchangeSupport.communication(spec, SparkRendezvous.open(context, spec)) : null) {
            Start start = agreeOnStart(collective, store, rank);
            CheckpointStore.Checkpoint checkpoint = start.checkpoint() == null ? null
                    : new CheckpointStore.Checkpoint(start.checkpoint(), spec.epoch(), start.firstStep());
            ComputationGraph graph = checkpoint == null ? spec.recipe().build() : store.loadModel(checkpoint);
            if (start.firstStep() > 0 || context.stageAttemptNumber() > 0) {
                LOG.info("replica {} (stage attempt {}) resumes epoch {} at step {} from {}", rank, context.stageAttemptNumber(),
                        spec.epoch() + 1, start.firstStep() + 1, start.checkpoint());
            }
            // Layers the schedule unfreezes from this epoch on train again (every replica does the same, at step 0).
            graph = FrozenLayers.thaw(graph, spec.frozenTraining(), spec.frozenLayers());
            LayerRates rates = new LayerRates(spec.lrMultipliers());
            if (spec.scheduleLearningRate()) {
                graph = rates.separate(graph, spec.schedule().rateAt(spec.epoch(), start.firstStep()));
            }
            // Convolutions on the kernels the job chose; checkpoints switch them back.
            graph = ConvolutionSwap.apply(graph, spec.convolutionKernels());
            graph = spec.syncBatchNorm() ? SyncBatchNormSupport.toSync(graph, collective) : SyncBatchNormSupport.toLocal(graph);
            if (rank == 0 && !spec.listeners().isEmpty()) {
                // Rank 0 stands for the job: its replica holds the same parameters as every other.
                graph.setListeners(spec.listeners());
            }
            FrozenLayers frozen = FrozenLayers.of(graph, spec.frozenLayers());
            frozen.requireConfigured(graph);
            frozen.freezeBatchNorms(graph);
            GradientExchange strategy = ExchangeSupport.create(spec, collective, frozen.names());
            GradientExchange exchange = frozen.isEmpty() ? strategy : new FrozenExchange(strategy, frozen);
            ReplicaTrainer trainer = new ReplicaTrainer(graph, collective, exchange, spec.schedule(),
                    spec.checkEverySteps(), spec.dataTimeoutMs(), NonFinitePolicy.parse(spec.onNan()));
            if (!spec.scheduleLearningRate()) {
                trainer.keepNetworkLearningRates();
            } else {
                trainer.layerRates(rates);
            }
            if (checkpoint != null) {
                ReplicaCheckpoints.restoreExchange(store, checkpoint, rank, exchange);
            }
            if (collective != null && spec.checkEverySteps() > 0) {
                trainer.verifyReplicasAgree(spec.epoch(), start.firstStep() - 1L);
            }
            BatchSource source = new ShardBatches<>(shard, spec, decoder, rank, start.firstStep());
            StepObserver observer = progress.observer(context);
            ReplicaTrainer.StepHook hook = spec.checkpointEverySteps() > 0
                    ? (epoch, stepsDone, g) -> {
                        if (stepsDone % spec.checkpointEverySteps() == 0 && stepsDone < spec.stepsPerEpoch()) {
                            // Every replica takes part (local SGD averages here); rank 0 writes.
                            exchange.synchronize(g);
                            ReplicaCheckpoints.write(store, g, exchange, collective, meta(epoch, stepsDone),
                                    spec.keepCheckpoints());
                        }
                    }
                    : ReplicaTrainer.StepHook.NONE;
            EpochReport report;
            try {
                report = trainer.trainEpoch(spec.epoch(), start.firstStep(), source, observer, hook);
            } catch (TrainingDivergedException e) {
                // Deterministic: retrying the stage would diverge again. Report it; the driver stops the job.
                LOG.error("replica {}: {}", rank, e.getMessage());
                return List.of(EpochReport.failed(rank, spec.epoch(), e.getMessage())).iterator();
            }
            exchange.synchronize(trainer.graph());
            report = trainer.evaluate(report, evaluationBatches(shard, rank), spec.recipe().numClasses());
            ReplicaCheckpoints.write(store, trainer.graph(), exchange, collective, meta(spec.epoch() + 1, 0),
                    spec.keepCheckpoints());
            if (decoder instanceof io.lockstep.worker.data.ImageBatchDecoder images && !images.skipped().isEmpty()) {
                report = report.withSkippedRecords(images.skipped().stream().map(Object::toString).toList());
            }
            exchange.close();
            LOG.info("replica {} finished epoch {}: {} steps, test accuracy {}", rank, spec.epoch() + 1,
                    report.steps(), report.testAccuracy());
            return List.of(report).iterator();
        }
    }

    /**
     * Rank 0 decides where the stage starts and tells the others, so all replicas load the same state
     * even if a checkpoint appears while they look.
     */
    private Start agreeOnStart(Collective collective, CheckpointStore store, int rank) {
        Start mine = rank == 0 ? chooseStart(store) : new Start(null, 0);
        if (collective == null) {
            return mine;
        }
        return Start.decode(collective.broadcast(mine.encode(), 0));
    }

    private Start chooseStart(CheckpointStore store) {
        Optional<CheckpointStore.Checkpoint> latest = store.latest();
        if (latest.isPresent()) {
            CheckpointStore.Checkpoint c = latest.get();
            if (c.epochsCompleted() == spec.epoch() && c.stepInEpoch() > spec.resumeStep() && c.stepInEpoch() < spec.stepsPerEpoch()) {
                return new Start(c.path(), c.stepInEpoch());
            }
            if (c.epochsCompleted() == spec.epoch() + 1 && c.stepInEpoch() == 0) {
                // A previous attempt trained the whole epoch and checkpointed it, then failed: evaluate only.
                return new Start(c.path(), spec.stepsPerEpoch());
            }
        }
        return new Start(spec.resumeFrom(), spec.resumeStep());
    }

    /** What a checkpoint at this position of the stage records besides the model. */
    private CheckpointMeta meta(int epochsCompleted, int stepInEpoch) {
        long globalStep = spec.globalStepAtStart() + (epochsCompleted > spec.epoch() ? spec.stepsPerEpoch() : stepInEpoch);
        return new CheckpointMeta(epochsCompleted, stepInEpoch, globalStep, spec.planSeed(), spec.recipe(),
                spec.classNames(), spec.normalization(), spec.job());
    }

    /**
     * The replica's test records as batches, each decoded only when evaluation asks for it: the records stream
     * from the shuffle, so the test slice never sits in memory whole (images of a large test set would not fit).
     */
    private Iterable<DataSet> evaluationBatches(ShardStream<R> shard, int rank) {
        return () -> new Iterator<>() {
            private List<R> next = shard.nextTest(spec.evalBatchSize());

            @Override
            public boolean hasNext() {
                return !next.isEmpty();
            }

            @Override
            public DataSet next() {
                if (next.isEmpty()) {
                    throw new java.util.NoSuchElementException();
                }
                DataSet batch = decoder.decode(next, false, spec.planSeed(), spec.epoch(), rank, -1);
                next = shard.nextTest(spec.evalBatchSize());
                return batch;
            }
        };
    }

    /**
     * One replica's records for the epoch as they arrive from the sorted shuffle: the training records
     * in plan order (step, then slot), then the replica's test records. Holds one batch of records at a
     * time; Spark's sorter behind the iterator spills to disk beyond its memory share. The prefetch
     * thread reads the training part, then (after the last batch was handed over) the task thread the test part.
     */
    private static final class ShardStream<R> {
        private final Iterator<Tuple2<Long, ShardItem<R>>> items;
        private final int rank;
        private final int trainRecords;
        private int read;
        private ShardItem<R> pending;

        ShardStream(Iterator<Tuple2<Long, ShardItem<R>>> items, int rank, int trainRecords) {
            this.items = items;
            this.rank = rank;
            this.trainRecords = trainRecords;
        }

        /** The next {@code count} training records, which must be those at shard positions {@code from..from+count-1}. */
        List<R> nextTrain(int from, int count) {
            List<R> records = new ArrayList<>(count);
            while (read < from + count) {
                ShardItem<R> item = items.hasNext() ? items.next()._2() : null;
                if (item == null || item.test() || item.order() != read) {
                    throw new IllegalStateException("replica " + rank + " expected training record " + read + " of " + trainRecords
                            + " (" + trainRecords / Math.max(1, count) + " steps x " + count + ") but the shuffle delivered "
                            + (item == null ? "the end of its records" : (item.test() ? "a test record" : "record " + item.order()))
                            + "; this is a bug in the epoch plan or the routing");
                }
                if (read >= from) {
                    records.add(item.record());
                }
                read++;
            }
            return records;
        }

        /**
         * Up to {@code count} further test records, in order (empty at the end), after skipping any training records
         * nobody read (a resumed or capped stage).
         */
        List<R> nextTest(int count) {
            List<R> test = new ArrayList<>(count);
            while (test.size() < count && items.hasNext()) {
                ShardItem<R> item = items.next()._2();
                if (item.test()) {
                    test.add(item.record());
                }
            }
            return test;
        }
    }

    /** The shard's batches in plan order from {@code firstStep}, decoded on the prefetch thread. */
    private static final class ShardBatches<R> implements BatchSource {
        private final ShardStream<R> shard;
        private final StageSpec spec;
        private final BatchDecoder<R> decoder;
        private final int rank;
        private final int firstStep;

        ShardBatches(ShardStream<R> shard, StageSpec spec, BatchDecoder<R> decoder, int rank, int firstStep) {
            this.shard = shard;
            this.spec = spec;
            this.decoder = decoder;
            this.rank = rank;
            this.firstStep = firstStep;
        }

        @Override
        public int steps() {
            return spec.stepsPerEpoch() - firstStep;
        }

        @Override
        public DataSet batch(int index) {
            int step = firstStep + index;
            int b = spec.batchPerReplica();
            return decoder.decode(shard.nextTrain(step * b, b), true, spec.planSeed(), spec.epoch(), rank, step);
        }
    }
}
