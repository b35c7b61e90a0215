package io.lockstep.worker.spark;

import io.lockstep.models.Normalization;
import io.lockstep.worker.comm.AeronCollective;
import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.WireCompression;
import io.lockstep.worker.exchange.ExchangeSettings;
import io.lockstep.worker.exchange.ExchangeStrategies;
import io.lockstep.worker.nn.SyncBatchNorms;
import io.lockstep.worker.testing.TwoHosts;
import io.lockstep.worker.train.BucketedAllReduceExchange;
import io.lockstep.worker.train.CheckpointMeta;
import io.lockstep.worker.train.CheckpointStore;
import io.lockstep.worker.train.GradientExchange;
import io.lockstep.worker.train.ModelRecipe;
import io.lockstep.worker.train.Optimizer;
import io.lockstep.worker.train.ReplicaSlices;
import io.lockstep.worker.train.ReplicaTrainer;
import io.lockstep.worker.train.StepObserver;
import io.lockstep.worker.train.SyntheticBatches;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One replica's part in {@link HierarchicalResumeTest}, shared by the test's JVM and the child JVM that plays
 * the host which is killed ({@link KilledHostProcess}): epoch 0 of a job with synchronized BatchNorm and
 * the bucketed all-reduce overlapped with backward on a communication agent, started either from the recipe
 * or from a checkpoint, in the order {@link ReplicaStage} does it, through the stage's own pieces (the
 * communication agent and exchange chosen from the options, {@link SyncBatchNormSupport},
 * {@link ReplicaCheckpoints}, {@link CheckpointStore}).
 */
final class ResumeScenario {
    static final int B = 4;
    static final int STEPS = 4;
    /** The stage checkpoints after this many steps of the epoch ({@code --checkpoint-every}). */
    static final int CHECKPOINT_EVERY = 2;
    static final String JOB = "hierarchical-resume";
    /** resnet20 (19 BatchNorm layers) on 8x8 images: small, and with BatchNorm to synchronize. */
    static final ModelRecipe RECIPE = new ModelRecipe("resnet20", 10, 1, 8, 8, Normalization.BATCH, 7L,
            Optimizer.NESTEROV, 0.02, 1e-4);
    /** {@code --exchange allreduce --overlap on --bucket-size 64k}: resnet20's gradient leaves in many buckets. */
    static final ExchangeSettings SETTINGS = ExchangeSettings.defaults().withOverlap(true, 64 * 1024);

    private ResumeScenario() {
    }

    /** The same in every JVM: ND4J's generator from a fixed seed. */
    static List<DataSet> globalBatches() {
        return SyntheticBatches.global(2024, STEPS, TwoHosts.RANKS * B, 1, 8, 10);
    }

    /** Where a replica ends: the model's whole state, and the all-reduce form its collective took. */
    record Outcome(float[] params, float[] updaterState, int iterations, int epochs, String topology) {
    }

    /**
     * Trains the rest of epoch 0 on {@code opened}'s rank and returns where it ends.
     *
     * @param store      where the job's checkpoints are
     * @param from       the checkpoint to resume from, or {@code null} to start from the recipe at step 0
     * @param checkpoint whether to checkpoint every {@link #CHECKPOINT_EVERY} steps, as the stage does
     * @param after      called after each step (after the checkpoint of that step)
     */
    static Outcome train(AeronCollective opened, List<DataSet> global, CheckpointStore store, CheckpointStore.Checkpoint from,
                         boolean checkpoint, ReplicaTrainer.StepHook after) throws Exception {
        int rank = opened.rank();
        try (Collective collective = ExchangeStrategies.communication(ExchangeStrategies.ALLREDUCE, SETTINGS, opened,
                TwoHosts.AGENT_STALL_MS)) {
            ComputationGraph graph = from == null ? RECIPE.build() : store.loadModel(from);
            graph = SyncBatchNormSupport.toSync(graph, collective);
            if (SyncBatchNorms.layers(graph).isEmpty()) {
                throw new AssertionError("the model has no BatchNorm layers to synchronize");
            }
            GradientExchange exchange = ExchangeStrategies.create(ExchangeStrategies.ALLREDUCE, SETTINGS, collective,
                    Set.of(), WireCompression.NONE);
            if (!(exchange instanceof BucketedAllReduceExchange)) {
                throw new AssertionError("not the bucketed, overlapped exchange: " + exchange);
            }
            ReplicaTrainer trainer = new ReplicaTrainer(graph, collective, exchange,
                    SyntheticBatches.constantRate(RECIPE, STEPS), 0, 60_000);
            if (from != null) {
                ReplicaCheckpoints.restoreExchange(store, from, rank, exchange);
            }
            int firstStep = from == null ? 0 : from.stepInEpoch();
            ReplicaTrainer.StepHook hook = (epoch, stepsDone, g) -> {
                if (checkpoint && stepsDone % CHECKPOINT_EVERY == 0 && stepsDone < STEPS) {
                    exchange.synchronize(g);
                    ReplicaCheckpoints.write(store, g, exchange, collective, new CheckpointMeta(epoch, stepsDone, stepsDone,
                            7L, RECIPE, List.of(), "sync-batch", Map.of()), 0);
                }
                after.afterStep(epoch, stepsDone, g);
            };
            trainer.trainEpoch(0, firstStep, ReplicaSlices.source(global.subList(firstStep, STEPS), rank, B),
                    StepObserver.NONE, hook);
            exchange.synchronize(trainer.graph());
            exchange.close();
            ComputationGraph trained = trainer.graph();
            INDArray updater = trained.getUpdater().getStateViewArray();
            return new Outcome(trained.params().toFloatVector(), updater.toFloatVector(),
                    trained.getConfiguration().getIterationCount(), trained.getConfiguration().getEpochCount(),
                    opened.hostLayout().shape());
        }
    }
}
