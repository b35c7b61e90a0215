package io.lockstep.worker.spark;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.train.AllReduceExchange;
import io.lockstep.worker.train.BatchDecoder;
import io.lockstep.worker.train.BatchSource;
import io.lockstep.worker.train.CheckpointMeta;
import io.lockstep.worker.train.CheckpointStore;
import io.lockstep.worker.train.EpochReport;
import io.lockstep.worker.train.GradientExchange;
import io.lockstep.worker.train.ReplicaTrainer;
import io.lockstep.worker.train.StepObserver;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;

/**
 * The body of one epoch's barrier stage: one Spark task is one replica. Runs on the executor.
 *
 * <p>Per task: rank = partition id; set the replica's ND4J threads (and GPU, on GPU clusters); open
 * the collective (one {@code allGather} rendezvous per stage); build the model or load it from the
 * last checkpoint; train the shard's steps in lockstep with the other replicas; evaluate this
 * replica's slice of the test set; rank 0 writes the checkpoint that carries the model to the next
 * epoch. Returns one {@link EpochReport} per replica to the driver.
 *
 * @param <R> record type of the dataset
 */
public final class ReplicaStage<R> implements FlatMapFunction<Iterator<Tuple2<Integer, ShardItem<R>>>, EpochReport> {
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

    @Override
    public Iterator<EpochReport> call(Iterator<Tuple2<Integer, ShardItem<R>>> items) throws Exception {
        BarrierTaskContext context = BarrierTaskContext.get();
        int rank = context.partitionId();
        List<ShardItem<R>> train = new ArrayList<>();
        List<ShardItem<R>> test = new ArrayList<>();
        while (items.hasNext()) {
            ShardItem<R> item = items.next()._2();
            (item.test() ? test : train).add(item);
        }
        train.sort(Comparator.comparingInt(ShardItem::order));
        test.sort(Comparator.comparingInt(ShardItem::order));
        int needed = spec.stepsPerEpoch() * spec.batchPerReplica();
        if (train.size() != needed) {
            throw new IllegalStateException("replica " + rank + " received " + train.size() + " training records, the plan gives it "
                    + needed + " (" + spec.stepsPerEpoch() + " steps x " + spec.batchPerReplica() + "); this is a bug in the epoch plan");
        }

        ReplicaResources.configureThreads(context, spec.threadsPerReplica());
        try (Collective collective = spec.replicas() > 1 ? SparkRendezvous.open(context, spec) : null) {
            ComputationGraph graph = loadOrBuild();
            if (spec.syncBatchNorm()) {
                graph = SyncBatchNormSupport.toSync(graph, collective);
            }
            GradientExchange exchange = collective == null ? GradientExchange.none() : new AllReduceExchange(collective);
            ReplicaTrainer trainer = new ReplicaTrainer(graph, collective, exchange, spec.schedule(),
                    spec.checkEverySteps(), spec.dataTimeoutMs());
            if (collective != null && spec.checkEverySteps() > 0) {
                trainer.verifyReplicasAgree(spec.epoch(), -1);
            }
            BatchSource source = new ShardBatches<>(train, spec, decoder, rank);
            StepObserver observer = rank == 0 ? progress.observer(context) : StepObserver.NONE;
            EpochReport report = trainer.trainEpoch(spec.epoch(), source, observer);
            report = trainer.evaluate(report, evaluationBatches(test, rank), spec.recipe().numClasses());
            if (rank == 0) {
                saveCheckpoint(SyncBatchNormSupport.toPlain(trainer.graph()));
            }
            exchange.close();
            LOG.info("replica {} finished epoch {}: {} steps, test accuracy {}", rank, spec.epoch() + 1,
                    report.steps(), report.testAccuracy());
            return List.of(report).iterator();
        }
    }

    private ComputationGraph loadOrBuild() {
        if (spec.resumeFrom() == null) {
            return spec.recipe().build();
        }
        CheckpointStore store = new CheckpointStore(spec.checkpointUri(), hadoopConf.get());
        return store.loadModel(new CheckpointStore.Checkpoint(spec.resumeFrom(), spec.epoch(), 0));
    }

    private void saveCheckpoint(ComputationGraph graph) {
        CheckpointStore store = new CheckpointStore(spec.checkpointUri(), hadoopConf.get());
        long globalStep = spec.globalStepAtStart() + spec.stepsPerEpoch();
        store.save(graph, new CheckpointMeta(spec.epoch() + 1, 0, globalStep, spec.planSeed(), spec.recipe(),
                spec.classNames(), spec.normalization(), spec.job()), spec.keepCheckpoints());
    }

    private List<DataSet> evaluationBatches(List<ShardItem<R>> test, int rank) {
        List<DataSet> batches = new ArrayList<>();
        for (int from = 0; from < test.size(); from += spec.evalBatchSize()) {
            List<R> records = new ArrayList<>();
            for (ShardItem<R> item : test.subList(from, Math.min(test.size(), from + spec.evalBatchSize()))) {
                records.add(item.record());
            }
            batches.add(decoder.decode(records, false, spec.planSeed(), spec.epoch(), rank, -1));
        }
        return batches;
    }

    /** The shard's batches in plan order, decoded on the prefetch thread. */
    private static final class ShardBatches<R> implements BatchSource {
        private final List<ShardItem<R>> train;
        private final StageSpec spec;
        private final BatchDecoder<R> decoder;
        private final int rank;

        ShardBatches(List<ShardItem<R>> train, StageSpec spec, BatchDecoder<R> decoder, int rank) {
            this.train = train;
            this.spec = spec;
            this.decoder = decoder;
            this.rank = rank;
        }

        @Override
        public int steps() {
            return spec.stepsPerEpoch();
        }

        @Override
        public DataSet batch(int step) {
            int b = spec.batchPerReplica();
            List<R> records = new ArrayList<>(b);
            for (ShardItem<R> item : train.subList(step * b, (step + 1) * b)) {
                records.add(item.record());
            }
            return decoder.decode(records, true, spec.planSeed(), spec.epoch(), rank, step);
        }
    }

    static {
        // Evaluation and training allocate through ND4J on this thread: fail early with a clear
        // message if the native backend cannot load on this executor.
        Nd4j.getBackend();
    }
}
