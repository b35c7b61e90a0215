package io.lockstep.worker.spark;

import io.lockstep.worker.comm.CollectiveConfig;
import io.lockstep.worker.comm.IdleMode;
import io.lockstep.worker.comm.TransportMode;
import io.lockstep.worker.comm.WireCompression;
import org.junit.jupiter.api.Test;

import java.net.NetworkInterface;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CollectiveSettingsTest {

    @Test
    void anInterfaceNameBindsToItsAddressElseTheExecutorHost() throws Exception {
        String loopback = NetworkInterface.getByInetAddress(java.net.InetAddress.getLoopbackAddress()).getName();
        CollectiveSettings byName = new CollectiveSettings(WireCompression.BF16, TransportMode.UDP, loopback, 1408,
                IdleMode.YIELDING);
        CollectiveConfig config = byName.applyTo(CollectiveConfig.builder(), "executor-7").build();
        assertEquals("127.0.0.1", config.bindAddress());
        assertEquals(TransportMode.UDP, config.transport());
        assertEquals(1408, config.mtuBytes());
        assertEquals(IdleMode.YIELDING, config.idleMode());
        assertEquals(WireCompression.NONE, config.wireCompression(), "gradients are narrowed per call, nothing else");

        CollectiveConfig byHost = CollectiveSettings.defaults().applyTo(CollectiveConfig.builder(), "executor-7").build();
        assertEquals("executor-7", byHost.bindAddress());
    }

    @Test
    void aMissingInterfaceIsNamedWithTheOnesThisHostHas() {
        CollectiveSettings settings = new CollectiveSettings(WireCompression.NONE, TransportMode.AUTO, "nosuch0", 8192,
                IdleMode.BACKOFF);
        IllegalStateException error = assertThrows(IllegalStateException.class,
                () -> settings.applyTo(CollectiveConfig.builder(), "h"));
        assertTrue(error.getMessage().startsWith("--network-interface nosuch0: host "), error.getMessage());
        assertTrue(error.getMessage().contains("lo"), "lists this host's interfaces: " + error.getMessage());
    }

    @Test
    void anInvalidMtuFailsWhereTheSettingsAreMade() {
        assertThrows(IllegalArgumentException.class,
                () -> new CollectiveSettings(WireCompression.NONE, TransportMode.AUTO, null, 1500, IdleMode.BACKOFF));
    }
}
