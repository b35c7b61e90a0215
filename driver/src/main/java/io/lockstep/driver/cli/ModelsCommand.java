package io.lockstep.driver.cli;

import io.lockstep.models.Architecture;
import io.lockstep.models.InputShape;
import io.lockstep.models.ModelLayers;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.models.ParameterCounts;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.util.concurrent.Callable;

/**
 * {@code lockstep models}: the zoo, one row per model with its exact trainable parameter count and whether
 * its logits are tested equal to PyTorch's with imported weights; with {@code --layers NAME}, that model's
 * layers and stages, the names {@code --freeze}, {@code --unfreeze-schedule} and {@code --lr-multipliers} take.
 */
@Command(name = "models", mixinStandardHelpOptions = true,
        description = {"List the models with their trainable parameter counts at their default input.",
                "Column 'logits=PyTorch': 'tested' where a test imports a PyTorch state_dict of the model and "
                        + "checks that Lockstep's logits equal PyTorch's (to 1e-4)."})
public final class ModelsCommand implements Callable<Integer> {

    @Option(names = "--layers", paramLabel = "NAME",
            description = "List the layers of model NAME (the names --freeze, --unfreeze-schedule and --lr-multipliers take).")
    String layers;

    @Option(names = "--input", paramLabel = "CxHxW", description = "With --layers: the input shape to build the model for "
            + "(default: the model's reference input).")
    String input;

    @Option(names = "--classes", paramLabel = "N", description = "With --layers: the class count (default: the model's reference count).")
    Integer classes;

    @Override
    public Integer call() {
        if (layers != null) {
            Architecture a;
            try {
                a = ModelRegistry.get(layers);
            } catch (IllegalArgumentException e) {
                throw new UserError("--layers: " + e.getMessage(), e);
            }
            InputShape shape = input == null ? a.defaultInput() : InputShape.parse(input);
            ModelLayers model = ModelLayers.of(ModelRegistry.build(a.name(),
                    ModelOptions.of(classes == null ? a.defaultClasses() : classes, shape)));
            System.out.printf("%s at %s: %d layers with parameters, in the order data flows; stages: %s%n%n", a.name(), shape,
                    model.layers().size(), String.join(", ", model.stages()));
            System.out.print(model.table());
            System.out.printf("%nA boundary is a layer, a stage, or any name prefix ending before an underscore "
                    + "(e.g. layer3_0), or none/all.%n");
            return 0;
        }
        PrintStream out = System.out;
        out.printf("%-15s %16s  %-15s %-15s %s%n", "model", "trainable", "input/classes", "logits=PyTorch", "description");
        for (Architecture a : ModelRegistry.all()) {
            long params = ParameterCounts.trainable(a.configuration(ModelOptions.of(a.defaultClasses(), a.defaultInput())));
            out.printf("%-15s %,16d  %-15s %-15s %s%n", a.name(), params, a.defaultInput() + "/" + a.defaultClasses(),
                    ModelRegistry.logitsMatchPyTorch(a.name()) ? "tested" : "-", a.description());
        }
        return 0;
    }
}
