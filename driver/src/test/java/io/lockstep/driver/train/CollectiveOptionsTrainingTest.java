package io.lockstep.driver.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.driver.Main;
import io.lockstep.driver.report.RunOutput;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The link options of {@code lockstep train} reach the replicas: two replicas in Spark local mode with
 * bf16 gradients over UDP on the loopback interface, a 1408-byte MTU and a yielding wait, against the
 * same job in fp32 over the same links; and what the defaults (the two-replica run the test classes share)
 * record. The replicas compare parameter
 * checksums every 3 steps and the job fails if they ever differ, so a finished run means bit-identical
 * replicas.
 */
class CollectiveOptionsTrainingTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private float[] train(String name, String... extra) {
        Path out = dir.resolve(name);
        List<String> args = new ArrayList<>(List.of("train", "--out", out.toString()));
        args.addAll(SharedRuns.TWO_REPLICAS_JOB);
        args.addAll(Arrays.asList(extra));
        assertEquals(0, Main.run(args.toArray(String[]::new)), "train " + name);
        return params(out);
    }

    private static float[] params(Path out) {
        return ModelFile.readGraph(out.resolve(RunOutput.MODEL).toFile()).params().toFloatVector();
    }

    @Test
    void bf16OverUdpOnANamedInterfaceStaysCloseToFp32AndIsRecorded() throws Exception {
        String loopback = NetworkInterface.getByInetAddress(InetAddress.getLoopbackAddress()).getName();
        String[] link = {"--transport", "udp", "--network-interface", loopback, "--mtu", "1408", "--idle-strategy", "yielding"};
        // The fp32 reference crosses the same links: with the defaults, two local replicas meet in shared memory
        // and send no frames at all.
        float[] exact = train("fp32", link);
        float[] bf16 = train("bf16", concat(link, "--wire-compression", "bf16"));
        double maxDiff = 0;
        for (int i = 0; i < exact.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(exact[i] - bf16[i]));
        }
        // bf16 keeps 8 significant bits per averaged gradient value: measured 2.6e-3 after this job's 10 steps at
        // rate 0.02.
        assertTrue(maxDiff > 0 && maxDiff < 1e-2, "bf16 vs fp32 gradients: max |parameter difference| " + maxDiff);

        JsonNode collective = JSON.readTree(dir.resolve("bf16").resolve(RunOutput.SUMMARY).toFile()).get("collective");
        assertEquals("bf16", collective.get("wire_compression").asText());
        assertEquals("udp", collective.get("transport").asText());
        assertEquals(loopback, collective.get("network_interface").asText());
        assertEquals(1408, collective.get("mtu_bytes").asInt());
        assertEquals("yielding", collective.get("idle_strategy").asText());
        assertEquals("flat", collective.get("allreduce_in_force").asText(), "UDP links: the ring, on one host");
        assertEquals(2 * bytesPerStep(dir.resolve("bf16")), bytesPerStep(dir.resolve("fp32")), "bf16 sends half the bytes per step");

        JsonNode defaults = JSON.readTree(SharedRuns.twoReplicas().resolve(RunOutput.SUMMARY).toFile()).get("collective");
        assertEquals("none", defaults.get("wire_compression").asText());
        assertEquals("auto", defaults.get("allreduce_topology").asText());
        assertEquals("shared memory", defaults.get("allreduce_in_force").asText(), "local mode runs every replica on one host");
        assertTrue(defaults.get("allreduce_reason").asText().contains("one host"), defaults.toString());
    }

    private static String[] concat(String[] first, String... more) {
        String[] all = Arrays.copyOf(first, first.length + more.length);
        System.arraycopy(more, 0, all, first.length, more.length);
        return all;
    }

    private static long bytesPerStep(Path run) throws IOException {
        return Files.readAllLines(run.resolve(RunOutput.METRICS)).stream()
                .filter(l -> l.contains("\"type\":\"step\""))
                .mapToLong(l -> {
                    try {
                        return JSON.readTree(l).get("bytes_sent_per_replica").asLong();
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }).max().orElseThrow();
    }
}
