package io.lockstep.driver.cli;

import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

/**
 * Where an option's value comes from when it is not on the command line, in order:
 * <ol>
 *   <li>the Spark property {@code spark.lockstep.<option>} (so {@code spark-submit --conf
 *       spark.lockstep.model=resnet18} works like any Spark plugin; spark-submit passes {@code --conf}
 *       values to the driver as system properties);</li>
 *   <li>the job file given by {@code --config FILE} (Java properties syntax, {@code option = value},
 *       see {@code conf/*.conf});</li>
 *   <li>the option's documented default.</li>
 * </ol>
 * Every option is still defined exactly once: a training option by its {@code OptionDef} in
 * {@link io.lockstep.api.TrainOptions} (turned into a flag by {@link OptionFlags}), any other by its
 * {@code @Option} annotation.
 */
public final class OptionSources implements CommandLine.IDefaultValueProvider {
    public static final String SPARK_PREFIX = "spark.lockstep.";
    private final Properties jobFile;

    private OptionSources(Properties jobFile) {
        this.jobFile = jobFile;
    }

    /** Reads the job file named by {@code --config} in {@code args}, if any. */
    public static OptionSources fromArgs(String[] args) {
        Properties props = new Properties();
        String file = null;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--config") && i + 1 < args.length) {
                file = args[i + 1];
            } else if (args[i].startsWith("--config=")) {
                file = args[i].substring("--config=".length());
            }
        }
        if (file != null) {
            Path path = Path.of(file);
            if (!Files.isRegularFile(path)) {
                throw new IllegalArgumentException("--config: job file " + file + " does not exist");
            }
            try (Reader reader = Files.newBufferedReader(path, StandardCharsets.UTF_8)) {
                props.load(reader);
            } catch (IOException e) {
                throw new IllegalArgumentException("--config: cannot read job file " + file + ": " + e.getMessage(), e);
            }
        }
        return new OptionSources(props);
    }

    @Override
    public String defaultValue(ArgSpec argSpec) {
        if (!(argSpec instanceof OptionSpec option)) {
            return argSpec.defaultValue();
        }
        String key = option.longestName().replaceFirst("^--", "");
        String fromSpark = System.getProperty(SPARK_PREFIX + key);
        if (fromSpark != null) {
            return fromSpark;
        }
        String fromFile = jobFile.getProperty(key);
        if (fromFile != null) {
            return fromFile.trim();
        }
        return argSpec.defaultValue();
    }
}
