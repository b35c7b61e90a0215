package io.lockstep.worker.train;

import java.util.List;
import java.util.Map;

/**
 * What a checkpoint records besides the model: where training stands and how it was configured.
 *
 * @param epochsCompleted epochs fully trained (the next epoch to train, 0-based)
 * @param stepInEpoch     steps trained within epoch {@code epochsCompleted} (0 at an epoch boundary)
 * @param globalStep      optimizer steps taken since the start of the job
 * @param planSeed        seed of the epoch plans
 * @param recipe          the model recipe the job started from
 * @param classNames      class index to name
 * @param normalization   {@code batch}, {@code sync-batch} or {@code none}: how the model was trained
 * @param job             the job configuration, option name to value, for the record and for resume
 */
public record CheckpointMeta(int epochsCompleted, int stepInEpoch, long globalStep, long planSeed,
                             ModelRecipe recipe, List<String> classNames, String normalization,
                             Map<String, String> job) {
}
