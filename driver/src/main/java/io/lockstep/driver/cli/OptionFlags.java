package io.lockstep.driver.cli;

import io.lockstep.api.OptionDef;
import io.lockstep.api.TrainOptions;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Turns the option catalog ({@link TrainOptions#all()}) into picocli flags, so a command lists and
 * parses every option without declaring it again. Values stay text until {@link #read} hands them to
 * {@link TrainOptions#withText}, which parses them: a bad number is then reported together with every
 * other problem instead of one at a time.
 */
public final class OptionFlags implements CommandLine.IModelTransformer {

    @Override
    public CommandSpec transform(CommandSpec spec) {
        for (OptionDef<?> option : TrainOptions.all()) {
            OptionSpec.Builder flag = OptionSpec.builder(option.flag())
                    .type(String.class)
                    .paramLabel(option.label())
                    .description(option.help());
            if (option.isFlag()) {
                flag.arity("0..1").fallbackValue("true").paramLabel("true|false");
            }
            Object defaultValue = option.defaultValue();
            if (defaultValue != null && !option.hasDerivedDefault()) {
                flag.defaultValue(option.format(defaultValue));
            }
            spec.addOption(flag.build());
        }
        return spec;
    }

    /**
     * The options a parsed command holds (flags, else {@code spark.lockstep.*}, else the job file; see
     * {@link OptionSources}). An option not given as a flag whose value equals the default stays unset,
     * so "not given" remains visible.
     */
    public static TrainOptions read(CommandSpec spec) {
        TrainOptions options = TrainOptions.defaults();
        CommandLine.ParseResult parsed = spec.commandLine() == null ? null : spec.commandLine().getParseResult();
        for (OptionDef<?> option : TrainOptions.all()) {
            OptionSpec flag = spec.findOption(option.flag());
            String text = flag == null ? null : flag.getValue();
            boolean given = parsed != null && parsed.hasMatchedOption(option.flag());
            if (text != null && (given || !text.equals(option.format(option.defaultValue())))) {
                options = options.withText(option.name(), text);
            }
        }
        return options;
    }
}
