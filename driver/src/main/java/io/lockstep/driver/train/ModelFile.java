package io.lockstep.driver.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.models.InputShape;
import io.lockstep.worker.data.ImageTransform;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * {@code model.zip}: DL4J's ModelSerializer format (parameters, configuration, optimizer state) plus
 * one extra entry, {@value #INFO_KEY}, with what {@code lockstep evaluate} and prediction need to map
 * outputs back: class names, input shape and how the model was trained.
 */
public final class ModelFile {
    public static final String INFO_KEY = "lockstep-model-info";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a trained model needs besides its weights. */
    public record Info(String model, List<String> classNames, int channels, int height, int width,
                       String normalization, int epochs, double testAccuracy, ImageTransform transform) {
        public InputShape inputShape() {
            return new InputShape(channels, height, width);
        }
    }

    private ModelFile() {
    }

    public static void write(ComputationGraph graph, Info info, File file) {
        try {
            ModelSerializer.writeModel(graph, file, true);
            ModelSerializer.addObjectToFile(file, INFO_KEY, JSON.writeValueAsString(info));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write model file " + file + ": " + e.getMessage(), e);
        }
    }

    public static ComputationGraph readGraph(File file) {
        try {
            return ModelSerializer.restoreComputationGraph(file, false);
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("--model-file: " + file + " is not a Lockstep/DL4J model file ("
                    + e.getMessage() + "); give the model.zip written by `lockstep train --out DIR`", e);
        }
    }

    public static Info readInfo(File file) {
        try {
            String json = ModelSerializer.getObjectFromFile(file, INFO_KEY);
            return JSON.readValue(json, Info.class);
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("--model-file: " + file + " has no Lockstep model information ("
                    + e.getMessage() + "); it was not written by `lockstep train`", e);
        }
    }
}
