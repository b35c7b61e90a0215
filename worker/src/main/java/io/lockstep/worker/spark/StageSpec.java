package io.lockstep.worker.spark;

import io.lockstep.worker.train.LearningRateSchedule;
import io.lockstep.worker.train.ModelRecipe;

import java.io.Serializable;
import java.util.List;
import java.util.Map;

/**
 * Everything one epoch's barrier stage needs, built by the driver and sent to every task.
 *
 * @param jobId             unique id of the training job (scopes collective traffic)
 * @param jobSecret         the job's secret (session ids and frame keys derive from it), or null when
 *                          Spark authenticates ({@code spark.authenticate}): each executor then derives it
 *                          from Spark's own secret and the job id, so it never travels with the tasks
 * @param epoch             0-based epoch this stage trains
 * @param replicas          number of replicas (tasks) in the stage
 * @param batchPerReplica   examples per replica per step
 * @param stepsPerEpoch     steps every replica takes this epoch
 * @param recipe            how to build the initial model
 * @param normalization     {@code batch}, {@code sync-batch} or {@code none}
 * @param schedule          learning-rate schedule
 * @param checkEverySteps   parameter-checksum comparison period in steps (0: never)
 * @param dataTimeoutMs     deadline for a prefetched batch
 * @param collectiveTimeoutMs deadline of every collective operation
 * @param evalBatchSize     batch size for evaluation
 * @param checkpointUri     directory of checkpoints (any Hadoop filesystem)
 * @param resumeFrom        checkpoint to start from, or {@code null} to build from the recipe
 * @param resumeStep        steps of this epoch already trained in {@code resumeFrom}
 * @param keepCheckpoints   how many checkpoints to keep (0: all)
 * @param threadsPerReplica ND4J/OneDNN threads each replica uses
 * @param classNames        class index to name
 * @param job               the job configuration, recorded in checkpoints
 * @param checkpointEverySteps rank 0 also checkpoints every this many steps within the epoch (0: only at its end)
 * @param onNan             {@code stop} or {@code skip-step}
 * @param exchange          exchange strategy name ({@code allreduce}, {@code average}, {@code threshold})
 * @param exchangeSettings  the strategies' settings
 * @param listeners         the user's own DL4J listeners, attached to rank 0's replica (serializable)
 * @param scheduleLearningRate whether {@code schedule} sets the rate each step; {@code false} keeps the
 *                          network's own updater rates (a network the user configured)
 * @param wireSecurity      protection of the replicas' frames
 * @param frozenLayers      the layers this stage keeps fixed, in flow order
 * @param frozenTraining    how each layer frozen at the job's start trains once it is unfrozen
 * @param lrMultipliers     learning-rate multiplier per layer (layers not named: 1)
 * @param collectiveSettings the replicas' transport, bind interface, MTU, idle strategy and gradient compression
 * @param convolutionKernels what runs the convolutions of the replica's graph while it trains (checkpoints
 *                          always hold DL4J's form)
 */
public record StageSpec(String jobId, io.lockstep.worker.comm.JobSecret jobSecret, int epoch, int replicas, int batchPerReplica,
                        int stepsPerEpoch, ModelRecipe recipe, String normalization, LearningRateSchedule schedule,
                        int checkEverySteps, long dataTimeoutMs, long collectiveTimeoutMs, int evalBatchSize,
                        String checkpointUri, String resumeFrom, int resumeStep, int keepCheckpoints, int threadsPerReplica,
                        long planSeed, long globalStepAtStart, List<String> classNames,
                        Map<String, String> job, int checkpointEverySteps, String onNan,
                        String exchange, io.lockstep.worker.exchange.ExchangeSettings exchangeSettings,
                        List<org.deeplearning4j.optimize.api.TrainingListener> listeners,
                        boolean scheduleLearningRate,
                        io.lockstep.worker.comm.WireSecurity wireSecurity,
                        List<String> frozenLayers,
                        Map<String, io.lockstep.worker.train.FrozenLayers.LayerTraining> frozenTraining,
                        Map<String, Double> lrMultipliers,
                        CollectiveSettings collectiveSettings,
                        io.lockstep.worker.nn.ConvolutionKernels convolutionKernels) implements Serializable {

    public boolean syncBatchNorm() {
        return "sync-batch".equals(normalization) && replicas > 1;
    }
}
