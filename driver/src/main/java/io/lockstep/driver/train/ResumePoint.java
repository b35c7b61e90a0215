package io.lockstep.driver.train;

import io.lockstep.api.TrainOptions;
import io.lockstep.driver.cli.UserError;
import io.lockstep.models.ActivationLayout;
import io.lockstep.worker.train.CheckpointMeta;
import io.lockstep.worker.train.CheckpointStore;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Where a job starts: from scratch, or from a checkpoint ({@code --resume}: the newest complete one
 * in the checkpoint directory; {@code --resume-from URI}: that one). A checkpoint taken within an
 * epoch can only continue the same epoch plan, so the options that define the plan must match.
 *
 * @param checkpoint  checkpoint path, or {@code null} to start from scratch
 * @param epoch       0-based epoch to (continue to) train
 * @param stepInEpoch steps of that epoch already trained
 * @param globalStep  optimizer steps already taken
 */
record ResumePoint(String checkpoint, int epoch, int stepInEpoch, long globalStep) {
    private static final List<String> PLAN_OPTIONS = List.of("seed", "replicas", "batch-size", "max-steps-per-epoch", "data");

    static ResumePoint find(TrainOptions config, CheckpointStore store, Configuration hadoopConf) {
        Resumed resumed = locate(config, store, hadoopConf);
        if (resumed == null) {
            if (!store.list().isEmpty()) {
                throw new UserError("the checkpoint directory " + store.uri() + " already holds checkpoints of an earlier run;"
                        + " continue it with --resume, or choose another --out / --checkpoint-dir");
            }
            return new ResumePoint(null, 0, 0, 0);
        }
        CheckpointStore.Checkpoint checkpoint = resumed.checkpoint();
        CheckpointMeta meta = resumed.meta();
        ActivationLayout saved = layoutOf(meta);
        if (saved != config.activationLayout()) {
            // The checkpoint holds the graph in the layout it trained in, and the stages go on from that graph.
            throw new UserError(TrainOptions.LAYOUT.flag() + ": the checkpoint " + checkpoint.path() + " was trained with "
                    + TrainOptions.LAYOUT.flag() + " " + saved.cliName() + ", this run has " + config.get(TrainOptions.LAYOUT)
                    + "; resume with " + TrainOptions.LAYOUT.flag() + " " + saved.cliName() + " or "
                    + TrainOptions.LAYOUT.flag() + " " + TrainOptions.AUTO + " (to change the layout, start a new run with"
                    + " --init-from " + checkpoint.path() + ")");
        }
        if (meta.stepInEpoch() > 0) {
            Map<String, String> now = config.asMap();
            for (String option : PLAN_OPTIONS) {
                if (!Objects.equals(meta.job().get(option), now.get(option))) {
                    throw new UserError("--" + option + ": the checkpoint " + checkpoint.path() + " was taken within an epoch with "
                            + option + "=" + meta.job().get(option) + ", this run has " + now.get(option)
                            + "; resume with the same value (the epoch plan depends on it)");
                }
            }
        }
        if (meta.epochsCompleted() >= config.get(TrainOptions.EPOCHS)) {
            throw new UserError("--epochs " + config.get(TrainOptions.EPOCHS) + ": the checkpoint " + checkpoint.path() + " has already trained "
                    + meta.epochsCompleted() + " epochs; raise --epochs to train more");
        }
        return new ResumePoint(checkpoint.path(), meta.epochsCompleted(), meta.stepInEpoch(), meta.globalStep());
    }

    /**
     * The activation layout of the checkpoint this run resumes from, or {@code null} when it starts
     * afresh: what {@code --layout auto} keeps.
     */
    static ActivationLayout checkpointLayout(TrainOptions config, CheckpointStore store, Configuration hadoopConf) {
        Resumed resumed = locate(config, store, hadoopConf);
        return resumed == null ? null : layoutOf(resumed.meta());
    }

    private static ActivationLayout layoutOf(CheckpointMeta meta) {
        return meta.recipe() == null ? ActivationLayout.NCHW : meta.recipe().layout();
    }

    private record Resumed(CheckpointStore.Checkpoint checkpoint, CheckpointMeta meta) {
    }

    /** The checkpoint {@code --resume} or {@code --resume-from} names, or {@code null} without either. */
    private static Resumed locate(TrainOptions config, CheckpointStore store, Configuration hadoopConf) {
        CheckpointStore.Checkpoint checkpoint;
        CheckpointStore source = store;
        if (config.get(TrainOptions.RESUME_FROM) != null) {
            Path path = new Path(config.get(TrainOptions.RESUME_FROM));
            source = new CheckpointStore(path.getParent().toString(), hadoopConf);
            checkpoint = source.list().stream().filter(c -> new Path(c.path()).getName().equals(path.getName()))
                    .findFirst().orElseThrow(() -> new UserError("--resume-from: " + config.get(TrainOptions.RESUME_FROM)
                            + " is not a complete checkpoint (a directory checkpoint-EEEEE-SSSSSSSS holding model.zip and meta.json)"));
        } else if (config.get(TrainOptions.RESUME)) {
            checkpoint = store.latest().orElseThrow(() -> new UserError("--resume: no complete checkpoint in "
                    + store.uri() + "; start without --resume, or give --checkpoint-dir"));
        } else {
            return null;
        }
        return new Resumed(checkpoint, source.loadMeta(checkpoint));
    }
}
