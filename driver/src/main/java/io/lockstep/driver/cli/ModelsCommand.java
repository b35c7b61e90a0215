package io.lockstep.driver.cli;

import io.lockstep.models.Architecture;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.models.ParameterCounts;
import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

/** {@code lockstep models}: the zoo, one row per model with its exact trainable parameter count. */
@Command(name = "models", mixinStandardHelpOptions = true,
        description = "List the models with their trainable parameter counts at their default input.")
public final class ModelsCommand implements Callable<Integer> {

    @Override
    public Integer call() {
        System.out.printf("%-15s %16s  %-15s %s%n", "model", "trainable", "input/classes", "description");
        for (Architecture a : ModelRegistry.all()) {
            long params = ParameterCounts.trainable(a.configuration(ModelOptions.of(a.defaultClasses(), a.defaultInput())));
            System.out.printf("%-15s %,16d  %-15s %s%n", a.name(), params, a.defaultInput() + "/" + a.defaultClasses(), a.description());
        }
        return 0;
    }
}
