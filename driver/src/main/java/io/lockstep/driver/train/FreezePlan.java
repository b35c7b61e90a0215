package io.lockstep.driver.train;

import io.lockstep.api.TrainOptions;
import io.lockstep.driver.cli.UserError;
import io.lockstep.models.ModelLayers;

import java.util.ArrayList;
import java.util.List;

/**
 * Which layers are frozen in each epoch: {@code --freeze} from the start, then fewer at each epoch of
 * {@code --unfreeze-schedule}. A pure function of the options and the model's layer names, so every stage
 * (and a resumed job) computes the same set for the same epoch. Immutable.
 */
final class FreezePlan {
    private record Step(int epoch, String boundary, List<String> frozen) {
    }

    private final List<String> initial;
    private final List<Step> steps;

    private FreezePlan(List<String> initial, List<Step> steps) {
        this.initial = List.copyOf(initial);
        this.steps = List.copyOf(steps);
    }

    /** @throws UserError naming the option, the bad entry and the valid names or order */
    static FreezePlan of(TrainOptions options, ModelLayers layers) {
        String boundary = options.get(TrainOptions.FREEZE);
        List<String> initial;
        try {
            initial = layers.upTo(boundary);
        } catch (IllegalArgumentException e) {
            throw new UserError(TrainOptions.FREEZE.flag() + ": " + e.getMessage(), e);
        }
        for (String head : layers.heads()) {
            if (initial.contains(head)) {
                throw new UserError(TrainOptions.FREEZE.flag() + " " + boundary + " freezes the output layer '" + head
                        + "', so nothing would train; freeze up to a layer or stage before it (stages: "
                        + String.join(", ", layers.stages()) + ")");
            }
        }
        List<Step> steps = new ArrayList<>();
        String schedule = options.get(TrainOptions.UNFREEZE_SCHEDULE);
        if (schedule != null && !schedule.isBlank()) {
            String flag = TrainOptions.UNFREEZE_SCHEDULE.flag();
            int epochs = options.get(TrainOptions.EPOCHS);
            List<String> previous = initial;
            int previousEpoch = 1;
            for (String entry : schedule.split(",")) {
                String[] parts = entry.trim().split(":", 2);
                int epoch;
                try {
                    epoch = Integer.parseInt(parts[0].trim());
                } catch (NumberFormatException e) {
                    throw new UserError(flag + ": '" + entry.trim() + "' is not EPOCH:LAYER; e.g. 2:layer3,4:all", e);
                }
                if (parts.length < 2 || parts[1].isBlank()) {
                    throw new UserError(flag + ": '" + entry.trim() + "' names no layer; write EPOCH:LAYER, e.g. 2:layer3,4:all");
                }
                if (epoch <= previousEpoch || epoch > epochs) {
                    throw new UserError(flag + ": epoch " + epoch + " in '" + entry.trim() + "' must be after "
                            + (steps.isEmpty() ? "the first epoch" : "epoch " + previousEpoch) + " and at most --epochs "
                            + epochs + "; list the epochs in increasing order");
                }
                List<String> frozen;
                try {
                    frozen = layers.before(parts[1].trim());
                } catch (IllegalArgumentException e) {
                    throw new UserError(flag + ": " + e.getMessage(), e);
                }
                if (!previous.containsAll(frozen) || frozen.size() >= previous.size()) {
                    throw new UserError(flag + ": '" + entry.trim() + "' unfreezes nothing that is still frozen (from epoch "
                            + epoch + " on, " + frozen.size() + " layers would be frozen, before it " + previous.size()
                            + "); each entry must name an earlier layer or stage than the one before");
                }
                steps.add(new Step(epoch, parts[1].trim(), frozen));
                previous = frozen;
                previousEpoch = epoch;
            }
        }
        return new FreezePlan(initial, steps);
    }

    /** The layers frozen at the start. */
    List<String> initial() {
        return initial;
    }

    /** The layers frozen in {@code epoch} (0-based). */
    List<String> frozenIn(int epoch) {
        List<String> frozen = initial;
        for (Step step : steps) {
            if (epoch + 1 >= step.epoch()) {
                frozen = step.frozen();
            }
        }
        return frozen;
    }
}
