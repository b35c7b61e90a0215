package io.lockstep.worker.comm;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The rogue of {@link RogueProcessTest} on another "host": its own network namespace, joined to this one
 * by a veth pair with addresses of a /30 that this test creates, and deletes afterwards (deleting the
 * namespace removes both ends of the pair). Needs root and iproute2; where they are missing the test is
 * reported as skipped with the reason, and with {@code LOCKSTEP_REQUIRE_NETNS=1} (set by CI) it fails instead.
 */
class RogueNamespaceTest {
    private static final long COMMAND_SECONDS = 30;

    @Test
    void aRogueInAnotherNetworkNamespaceIsNeverAcceptedAndIsNamed(@TempDir Path directory) throws Exception {
        String missing = missingPrerequisite();
        if (missing != null && "1".equals(System.getenv("LOCKSTEP_REQUIRE_NETNS"))) {
            throw new AssertionError("LOCKSTEP_REQUIRE_NETNS=1 but " + missing);
        }
        assumeTrue(missing == null, () -> "skipped: " + missing);
        long id = ProcessHandle.current().pid() % 100_000;
        String namespace = "lockstep-rogue-" + id;
        String hostSide = "lsr" + id + "h";
        String rogueSide = "lsr" + id + "r";
        int subnet = freeSubnet();
        String hostAddress = "10.213." + subnet + ".1";
        String rogueAddress = "10.213." + subnet + ".2";
        run("ip", "netns", "add", namespace);
        try {
            run("ip", "link", "add", hostSide, "type", "veth", "peer", "name", rogueSide);
            run("ip", "link", "set", rogueSide, "netns", namespace);
            run("ip", "addr", "add", hostAddress + "/30", "dev", hostSide);
            run("ip", "link", "set", hostSide, "up");
            run("ip", "netns", "exec", namespace, "ip", "addr", "add", rogueAddress + "/30", "dev", rogueSide);
            run("ip", "netns", "exec", namespace, "ip", "link", "set", rogueSide, "up");
            run("ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up");
            RogueProcessTest.impostorIsRefused(directory, hostAddress, rogueAddress,
                    List.of("ip", "netns", "exec", namespace));
        } finally {
            try {
                run("ip", "netns", "del", namespace);
            } finally {
                if (linkExists(hostSide)) {
                    run("ip", "link", "del", hostSide);
                }
            }
        }
    }

    private static String missingPrerequisite() {
        if (!"root".equals(System.getProperty("user.name"))) {
            return "network namespaces need root (running as " + System.getProperty("user.name") + ")";
        }
        try {
            Process probe = new ProcessBuilder("ip", "-V").redirectErrorStream(true).start();
            probe.getInputStream().readAllBytes();
            return probe.waitFor(COMMAND_SECONDS, TimeUnit.SECONDS) && probe.exitValue() == 0 ? null
                    : "'ip -V' failed: install iproute2";
        } catch (IOException e) {
            return "no 'ip' command: install iproute2 (" + e.getMessage() + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }

    /** A third octet for 10.213.x.0/30 that no interface of this host uses yet. */
    private static int freeSubnet() throws Exception {
        String addresses = output("ip", "-o", "addr", "show");
        for (int candidate = (int) (ProcessHandle.current().pid() % 200) + 20, tries = 0; tries < 200; tries++) {
            int subnet = (candidate + tries) % 250 + 1;
            if (!addresses.contains("10.213." + subnet + ".")) {
                return subnet;
            }
        }
        throw new AssertionError("no free 10.213.x.0/30 subnet on this host: " + addresses);
    }

    private static boolean linkExists(String name) throws Exception {
        return output("ip", "-o", "link", "show").contains(" " + name + "@");
    }

    private static void run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(COMMAND_SECONDS, TimeUnit.SECONDS) || process.exitValue() != 0) {
            process.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " failed: " + out);
        }
    }

    private static String output(String... command) throws Exception {
        Process process = new ProcessBuilder(new ArrayList<>(List.of(command))).redirectErrorStream(true).start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(COMMAND_SECONDS, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " did not finish");
        }
        return out;
    }
}
