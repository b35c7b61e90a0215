package io.lockstep.worker.comm;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EndpointAndLinkIdsTest {
    @Test
    void endpointsRoundTripThroughTheirTextForm() {
        Endpoint ipv4 = new Endpoint(3, "10.0.0.7", 40123, "abc-123", -4711);
        assertEquals(ipv4, Endpoint.decode(ipv4.encode()));
        assertEquals("10.0.0.7:40123", ipv4.socketAddress());
        Endpoint ipv6 = new Endpoint(0, "fe80:0:0:0:1:2:3:4", 5, "d", 7);
        assertEquals(ipv6, Endpoint.decode(ipv6.encode()));
        assertEquals("[fe80:0:0:0:1:2:3:4]:5", ipv6.socketAddress());
    }

    @Test
    void malformedEndpointTextIsRejectedWithTheText() {
        for (String text : new String[]{"", "1|host|2", "1|host|2|d", "x|host|2|d|0", "1|host|70000|d|0", "1||2|d|0", "1|host|2|d|x"}) {
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> Endpoint.decode(text));
            assertTrue(error.getMessage().contains(text) || text.isEmpty() || error.getMessage().contains("port")
                    || error.getMessage().contains("blank"), error.getMessage());
        }
    }

    @Test
    void ringOrderKeepsRanksOfOneHostAndDriverTogether() {
        List<Endpoint> endpoints = List.of(new Endpoint(0, "10.0.0.2", 1, "b", 0), new Endpoint(1, "10.0.0.1", 1, "a", 0),
                new Endpoint(2, "10.0.0.2", 2, "b", 0), new Endpoint(3, "10.0.0.1", 2, "a", 0));
        assertEquals(List.of(1, 3, 0, 2), java.util.Arrays.stream(CollectiveBinding.ringOrder(endpoints)).boxed().toList());
    }

    @Test
    void sessionIdsAreDistinctPerReceiverAndDependOnTheSecret() {
        int size = 64;
        LinkIds ids = new LinkIds(12345, LinkIds.jobHash("job"), 0, size);
        for (int link = 0; link < Wire.LINK_COUNT; link++) {
            for (int receiver = 0; receiver < size; receiver++) {
                Set<Integer> seen = new HashSet<>();
                for (int sender = 0; sender < size; sender++) {
                    if (sender != receiver) {
                        int id = ids.sessionId(link, sender, receiver);
                        assertTrue(seen.add(id), "duplicate session id towards rank " + receiver);
                        assertTrue(id < -1 || id > 1000, "outside Aeron's reserved range");
                    }
                }
            }
        }
        LinkIds otherSecret = new LinkIds(54321, LinkIds.jobHash("job"), 0, size);
        assertNotEquals(ids.sessionId(Wire.LINK_DATA, 1, 0), otherSecret.sessionId(Wire.LINK_DATA, 1, 0));
        assertEquals(ids.sessionId(Wire.LINK_DATA, 1, 0),
                new LinkIds(12345, LinkIds.jobHash("job"), 0, size).sessionId(Wire.LINK_DATA, 1, 0), "deterministic");
        LinkIds otherAttempt = new LinkIds(12345, LinkIds.jobHash("job"), 1, size);
        assertNotEquals(ids.streamId(Wire.LINK_DATA, 0), otherAttempt.streamId(Wire.LINK_DATA, 0));
        assertNotEquals(ids.streamId(Wire.LINK_DATA, 0), ids.streamId(Wire.LINK_CONTROL, 0));
        assertNotEquals(ids.streamId(Wire.LINK_DATA, 0), ids.streamId(Wire.LINK_DATA, 1));
    }
}
