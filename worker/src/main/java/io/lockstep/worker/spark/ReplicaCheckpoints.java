package io.lockstep.worker.spark;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.train.CheckpointMeta;
import io.lockstep.worker.train.CheckpointStore;
import io.lockstep.worker.train.GradientExchange;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * How a replica's training state goes into a checkpoint and comes back out, for {@link ReplicaStage}: the
 * model (parameters, updater state, iteration and epoch counts) as plain DL4J BatchNorm in the store's
 * {@code model.zip} (read back with {@link CheckpointStore#loadModel}, then switched to synchronized
 * BatchNorm by {@link SyncBatchNormSupport#toSync}), and each replica's exchange-strategy state beside it. Where the data stands is the
 * checkpoint's position (epoch, step): the epoch plan is a pure function of the seed, and augmentation
 * draws from (seed, epoch, rank, step), so no random generator state needs saving.
 *
 * <p>Called on the replica's training thread; {@link #write} is a collective call.
 */
final class ReplicaCheckpoints {
    private ReplicaCheckpoints() {
    }

    /**
     * Every replica calls this at the same step, after {@link GradientExchange#synchronize}: the replicas'
     * exchange states are gathered and rank 0 writes the checkpoint.
     *
     * @param collective the group, or {@code null} for a single replica
     * @param keep       how many checkpoints the store keeps (0: all)
     */
    static void write(CheckpointStore store, ComputationGraph graph, GradientExchange exchange, Collective collective,
                      CheckpointMeta meta, int keep) {
        List<Map<String, float[]>> states = gatherExchangeState(exchange, collective);
        if (collective == null || collective.rank() == 0) {
            store.save(SyncBatchNormSupport.toPlain(graph), meta, keep, states);
        }
    }

    /** Hands {@code exchange} the state {@code rank} saved in {@code checkpoint}, if it saved any. */
    static void restoreExchange(CheckpointStore store, CheckpointStore.Checkpoint checkpoint, int rank,
                                GradientExchange exchange) {
        Map<String, float[]> saved = store.loadExchangeState(checkpoint, rank);
        if (!saved.isEmpty()) {
            exchange.restore(saved);
        }
    }

    /**
     * Every replica's exchange-strategy state, gathered so rank 0 can write it into the checkpoint
     * (all replicas call this; nothing is exchanged for stateless strategies).
     */
    private static List<Map<String, float[]>> gatherExchangeState(GradientExchange exchange, Collective collective) {
        Map<String, float[]> mine = exchange.state();
        if (mine.isEmpty()) {
            return List.of();
        }
        if (collective == null) {
            return List.of(mine);
        }
        List<Map<String, float[]>> all = new ArrayList<>();
        for (byte[] bytes : collective.allGather(CheckpointStore.encodeState(mine))) {
            all.add(CheckpointStore.decodeState(bytes));
        }
        return all;
    }
}
