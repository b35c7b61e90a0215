package io.lockstep.driver.cli;

import io.lockstep.api.InvalidOptionsException;
import io.lockstep.api.TrainOptions;
import io.lockstep.worker.comm.AllReduceTopology;
import io.lockstep.worker.comm.IdleMode;
import io.lockstep.worker.comm.TransportMode;
import io.lockstep.worker.comm.WireCompression;
import io.lockstep.worker.spark.CollectiveSettings;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The replicas' link settings as options: parsed, refused by name, and handed to the collective. */
class CollectiveOptionsTest {

    private static TrainOptions parse(String... args) {
        TrainCommand command = new TrainCommand();
        CommandLine cli = new CommandLine(command);
        cli.setDefaultValueProvider(OptionSources.fromArgs(args));
        cli.parseArgs(args);
        return command.options();
    }

    @Test
    void defaultsAreTheCollectivesOwn() {
        assertEquals(CollectiveSettings.defaults(), parse("--data", "d").validate().collectiveSettings());
    }

    @Test
    void everySettingReachesTheCollective() {
        CollectiveSettings settings = parse("--data", "d", "--wire-compression", "BF16", "--transport", "udp",
                "--network-interface", "eth1", "--mtu", "1408", "--idle-strategy", "busy-spin",
                "--allreduce-topology", "hierarchical").validate().collectiveSettings();
        assertEquals(new CollectiveSettings(WireCompression.BF16, TransportMode.UDP, "eth1", 1408, IdleMode.BUSY_SPIN,
                AllReduceTopology.HIERARCHICAL), settings);
        assertEquals(AllReduceTopology.FLAT, TrainOptions.fromProperties(Map.of("spark.lockstep.allreduce-topology",
                "flat"), "spark.lockstep.").collectiveSettings().allReduceTopology());
        assertEquals(WireCompression.FP16, parse("--data", "d", "--wire-compression", "fp16").validate()
                .collectiveSettings().gradientCompression());
        assertEquals(IdleMode.SLEEPING, TrainOptions.fromProperties(Map.of("spark.lockstep.idle-strategy", "sleeping"),
                "spark.lockstep.").collectiveSettings().idleMode());
    }

    @Test
    void badValuesAreRefusedTogetherNamingEachOption() {
        InvalidOptionsException error = assertThrows(InvalidOptionsException.class, () -> parse("--data", "d",
                "--wire-compression", "int8", "--transport", "tcp", "--mtu", "1500", "--idle-strategy", "spin",
                "--allreduce-topology", "tree").validate());
        String message = error.getMessage();
        for (String option : new String[]{"--wire-compression", "--transport", "--mtu", "--idle-strategy",
                "--allreduce-topology"}) {
            assertTrue(message.contains(option), "message names " + option + ": " + message);
        }
        assertTrue(message.contains("bf16") && message.contains("multiple of 32") && message.contains("busy-spin"),
                "message says what to give instead: " + message);
    }

    @Test
    void compressionIsRefusedWhereItWouldNarrowParametersOrSparseUpdates() {
        for (String exchange : new String[]{"average", "threshold"}) {
            InvalidOptionsException error = assertThrows(InvalidOptionsException.class, () -> parse("--data", "d",
                    "--wire-compression", "bf16", "--exchange", exchange).validate());
            assertTrue(error.getMessage().contains("--wire-compression") && error.getMessage().contains("--exchange "
                    + exchange), error.getMessage());
        }
        parse("--data", "d", "--wire-compression", "none", "--exchange", "average").validate();
    }

    @Test
    void compressionCombinesWithOverlappedBuckets() {
        parse("--data", "d", "--wire-compression", "bf16", "--overlap", "on").validate();
        parse("--data", "d", "--wire-compression", "fp16", "--overlap", "off").validate();
    }
}
