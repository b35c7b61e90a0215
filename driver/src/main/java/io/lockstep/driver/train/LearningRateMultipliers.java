package io.lockstep.driver.train;

import io.lockstep.api.TrainOptions;
import io.lockstep.driver.cli.UserError;
import io.lockstep.models.ModelLayers;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code --lr-multipliers}: a learning-rate multiplier per layer, from {@code NAME=X,...} (a layer, a stage
 * or any group name; later entries win; unnamed layers 1) or {@code geometric:F} (the output layers' stage
 * 1, each earlier stage F times the one after it).
 */
final class LearningRateMultipliers {
    private LearningRateMultipliers() {
    }

    /** @throws UserError naming the entry and the valid names or values */
    static Map<String, Double> resolve(String text, ModelLayers layers) {
        Map<String, Double> multipliers = new LinkedHashMap<>();
        if (text == null || text.isBlank()) {
            return multipliers;
        }
        String flag = TrainOptions.LR_MULTIPLIERS.flag();
        if (text.trim().startsWith("geometric:")) {
            double factor = number(flag, text.trim(), text.trim().substring("geometric:".length()));
            if (factor > 1) {
                throw new UserError(flag + ": geometric factor " + factor + " must be at most 1 (earlier layers learn slower)");
            }
            List<String> stages = layers.stages();
            for (ModelLayers.Layer layer : layers.layers()) {
                int fromHead = stages.size() - 1 - stages.indexOf(layer.stage());
                multipliers.put(layer.name(), Math.pow(factor, fromHead));
            }
            return multipliers;
        }
        for (String entry : text.split(",")) {
            String[] parts = entry.trim().split("=", 2);
            if (parts.length != 2) {
                throw new UserError(flag + ": '" + entry.trim() + "' is not NAME=X; e.g. layer1=0.1,layer2=0.3 or geometric:0.5");
            }
            String name = parts[0].trim();
            if (name.equals(ModelLayers.NONE) || name.equals(ModelLayers.ALL) || !layers.isBoundary(name)) {
                throw new UserError(flag + ": " + layers.unknown(name).replace(", or none/all", ""));
            }
            double multiplier = number(flag, entry.trim(), parts[1].trim());
            for (ModelLayers.Layer layer : layers.layers()) {
                if (ModelLayers.matches(layer.name(), name)) {
                    multipliers.put(layer.name(), multiplier);
                }
            }
        }
        return multipliers;
    }

    private static double number(String flag, String entry, String text) {
        try {
            double value = Double.parseDouble(text);
            if (value > 0 && Double.isFinite(value)) {
                return value;
            }
        } catch (NumberFormatException e) {
            // reported below with the entry
        }
        throw new UserError(flag + ": '" + entry + "' needs a positive number, got '" + text + "'");
    }
}
