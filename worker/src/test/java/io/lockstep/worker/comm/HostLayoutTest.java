package io.lockstep.worker.comm;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which all-reduce form a group takes, from the host addresses in its endpoints. */
class HostLayoutTest {

    /** Endpoints for ranks on the given hosts, one driver per host. */
    private static List<Endpoint> ranksOn(String... hosts) {
        List<Endpoint> endpoints = new ArrayList<>();
        for (int rank = 0; rank < hosts.length; rank++) {
            endpoints.add(new Endpoint(rank, hosts[rank], 40_000 + rank, "driver-" + hosts[rank], rank));
        }
        return endpoints;
    }

    @Test
    void autoIsHierarchicalForTwoOrMoreHostsWithTheSameCountOfTwoOrMore() {
        HostLayout layout = HostLayout.of(AllReduceTopology.AUTO, ranksOn("10.0.0.2", "10.0.0.1", "10.0.0.2",
                "10.0.0.1", "10.0.0.1", "10.0.0.2"));
        assertTrue(layout.hierarchical(), layout.reason());
        assertEquals(2, layout.hosts());
        assertEquals(3, layout.perHost());
        assertEquals("hierarchical 2x3", layout.shape());
        assertArrayEquals(new int[]{1, 3, 4}, layout.hostRing(3), "hosts in address order, ranks in rank order");
        assertArrayEquals(new int[]{0, 2, 5}, layout.hostRing(5));
        assertArrayEquals(new int[]{3, 2}, layout.crossRing(3), "local index 1 on every host");
        assertArrayEquals(new int[]{3, 2}, layout.crossRing(2));
        assertArrayEquals(new int[]{4, 5}, layout.crossRing(5));
        assertTrue(HostLayout.of(AllReduceTopology.HIERARCHICAL, ranksOn("a", "a", "b", "b")).hierarchical());
    }

    @Test
    void autoStaysFlatAndSaysWhy() {
        HostLayout oneHost = HostLayout.of(AllReduceTopology.AUTO, ranksOn("127.0.0.1", "127.0.0.1", "127.0.0.1",
                "127.0.0.1"));
        assertFalse(oneHost.hierarchical());
        assertTrue(oneHost.reason().contains("one host"), oneHost.reason());
        HostLayout unequal = HostLayout.of(AllReduceTopology.AUTO, ranksOn("a", "a", "a", "b"));
        assertFalse(unequal.hierarchical());
        assertTrue(unequal.reason().contains("unequal numbers of ranks (a: 3, b: 1)"), unequal.reason());
        HostLayout singles = HostLayout.of(AllReduceTopology.AUTO, ranksOn("a", "b", "c", "d"));
        assertFalse(singles.hierarchical());
        assertTrue(singles.reason().contains("single rank"), singles.reason());
        HostLayout small = HostLayout.of(AllReduceTopology.AUTO, ranksOn("a", "a", "b"));
        assertFalse(small.hierarchical());
        assertTrue(small.reason().contains("3 ranks"), small.reason());
        HostLayout asked = HostLayout.of(AllReduceTopology.FLAT, ranksOn("a", "a", "b", "b"));
        assertFalse(asked.hierarchical());
        assertEquals("flat", asked.shape());
        assertTrue(asked.reason().contains("requested"), asked.reason());
    }

    @Test
    void hierarchicalWhenImpossibleFailsNamingTheReason() {
        CollectiveException unequal = assertThrows(CollectiveException.class,
                () -> HostLayout.of(AllReduceTopology.HIERARCHICAL, ranksOn("a", "a", "a", "b")));
        assertTrue(unequal.getMessage().contains("allreduce-topology hierarchical (allReduceTopology HIERARCHICAL) is impossible")
                && unequal.getMessage().contains("unequal numbers of ranks"), unequal.getMessage());
        CollectiveException oneHost = assertThrows(CollectiveException.class,
                () -> HostLayout.of(AllReduceTopology.HIERARCHICAL, ranksOn("a", "a", "a", "a")));
        assertTrue(oneHost.getMessage().contains("one host"), oneHost.getMessage());
    }

    @Test
    void topologyNamesParse() {
        assertEquals(AllReduceTopology.HIERARCHICAL, AllReduceTopology.parse("Hierarchical"));
        assertEquals("auto", AllReduceTopology.AUTO.optionName());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> AllReduceTopology.parse("tree"));
        assertTrue(bad.getMessage().contains("auto, flat, hierarchical"), bad.getMessage());
    }
}
