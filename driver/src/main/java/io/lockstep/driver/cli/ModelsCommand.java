package io.lockstep.driver.cli;

import io.lockstep.models.Architecture;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.models.ParameterCounts;
import picocli.CommandLine.Command;

import java.io.PrintStream;
import java.util.concurrent.Callable;

/**
 * {@code lockstep models}: the zoo, one row per model with its exact trainable parameter count and whether
 * its logits are tested equal to PyTorch's with imported weights.
 */
@Command(name = "models", mixinStandardHelpOptions = true,
        description = {"List the models with their trainable parameter counts at their default input.",
                "Column 'logits=PyTorch': 'tested' where a test imports a PyTorch state_dict of the model and "
                        + "checks that Lockstep's logits equal PyTorch's (to 1e-4)."})
public final class ModelsCommand implements Callable<Integer> {
    @Override
    public Integer call() {
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
