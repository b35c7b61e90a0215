package io.lockstep.worker.comm;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Every UDP socket this JVM opens for a group is bound to the configured host: none listens on all interfaces. */
class SocketBindingTest {
    @Test
    void everyUdpSocketIsBoundToTheConfiguredAddressOnAnEphemeralPort() throws Exception {
        assumeTrue(Files.isReadable(Path.of("/proc/self/fd")) && Files.isReadable(Path.of("/proc/net/udp")),
                "needs Linux /proc");
        CollectiveConfig config = InProcessGroup.testConfig().transport(TransportMode.UDP).build();
        try (InProcessGroup group = InProcessGroup.open(3, config)) {
            Set<String> ours = socketInodes();
            Map<String, String> localAddressByInode = udpSockets();
            Set<Integer> boundPorts = new HashSet<>();
            int checked = 0;
            for (String inode : ours) {
                String local = localAddressByInode.get(inode);
                if (local == null) {
                    continue; // not a UDP socket (TCP, Unix) or IPv6: see below
                }
                checked++;
                String[] hostAndPort = local.split(":");
                assertEquals("0100007F", hostAndPort[0], "UDP socket " + local + " is not bound to 127.0.0.1");
                boundPorts.add(Integer.parseInt(hostAndPort[1], 16));
            }
            assertFalse(checked == 0, "found this JVM's UDP sockets");
            for (int rank = 0; rank < 3; rank++) {
                int port = group.rank(rank).localEndpoint().port();
                assertFalse(port == 0, "an ephemeral port was bound");
                assertEquals(true, boundPorts.contains(port), "rank " + rank + "'s endpoint port is one of the sockets");
            }
            assertFalse(udp6Sockets().keySet().stream().anyMatch(ours::contains), "no IPv6 wildcard socket either");
        }
    }

    private static Set<String> socketInodes() throws IOException {
        Set<String> inodes = new HashSet<>();
        try (DirectoryStream<Path> descriptors = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path descriptor : descriptors) {
                try {
                    String target = Files.readSymbolicLink(descriptor).toString();
                    if (target.startsWith("socket:[")) {
                        inodes.add(target.substring(8, target.length() - 1));
                    }
                } catch (IOException e) {
                    // The descriptor closed while listing.
                }
            }
        }
        return inodes;
    }

    private static Map<String, String> udpSockets() throws IOException {
        return parse(Files.readAllLines(Path.of("/proc/net/udp")));
    }

    private static Map<String, String> udp6Sockets() throws IOException {
        Path file = Path.of("/proc/net/udp6");
        return Files.isReadable(file) ? parse(Files.readAllLines(file)) : Map.of();
    }

    /** inode → local address (hex host:port) from a /proc/net/udp table. */
    private static Map<String, String> parse(List<String> lines) {
        Map<String, String> byInode = new HashMap<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] fields = line.trim().split("\\s+");
            byInode.put(fields[9], fields[1]);
        }
        return byInode;
    }
}
