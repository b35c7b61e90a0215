package io.lockstep.driver.cli;

import io.lockstep.models.Architecture;
import io.lockstep.models.InputShape;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.models.ParameterCounts;
import io.lockstep.models.torch.TorchWeights;
import io.lockstep.models.torch.WeightImportException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code lockstep import-weights}: a PyTorch state_dict (safetensors) into a zoo model, written as a
 * DL4J model file. Nothing is written unless every tensor fits.
 */
@Command(name = "import-weights", mixinStandardHelpOptions = true, showDefaultValues = true,
        description = "Load a PyTorch state_dict saved as safetensors into a zoo model and write it as model.zip.")
public final class ImportWeightsCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Zoo model the weights belong to (see `lockstep models`).")
    String model;

    @Option(names = "--from", required = true, paramLabel = "FILE",
            description = "state_dict saved with safetensors (safetensors.torch.save_file(model.state_dict(), FILE)).")
    Path from;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Model file to write (DL4J format).")
    Path out;

    @Option(names = "--classes", paramLabel = "N",
            description = "Classes the weights were trained for (default: the model's reference count, 1000 for ImageNet models).")
    Integer classes;

    @Option(names = "--input", paramLabel = "CxHxW",
            description = "Input shape the model is built for (default: the model's reference input).")
    String input;

    @Override
    public Integer call() {
        Architecture architecture = ModelRegistry.get(model);
        InputShape shape = input == null ? architecture.defaultInput() : InputShape.parse(input);
        int numClasses = classes == null ? architecture.defaultClasses() : classes;
        if (!Files.isRegularFile(from)) {
            throw new UserError("--from: " + from + " is not a file; give the safetensors file of a PyTorch state_dict");
        }
        if (from.getFileName().toString().endsWith(".pt") || from.getFileName().toString().endsWith(".pth")) {
            throw new UserError("--from: " + from + " looks like a torch.save pickle, which Lockstep does not read; "
                    + "convert it with safetensors.torch.save_file(torch.load(FILE), 'model.safetensors')");
        }
        ModelOptions options = ModelOptions.of(numClasses, shape);
        try {
            TorchWeights.importToFile(architecture.name(), options, from, out);
        } catch (WeightImportException e) {
            throw new UserError(e.getMessage(), e);
        }
        System.out.printf("imported %s into %s (%,d trainable parameters, input %s, %d classes): %s%n", from,
                architecture.name(), ParameterCounts.trainable(architecture.configuration(options)), shape, numClasses, out);
        return 0;
    }
}
