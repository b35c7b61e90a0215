package io.lockstep.worker.comm;

import io.aeron.driver.ThreadingMode;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CollectiveConfigTest {
    @Test
    void theDefaultsAreValidAndListenOnNoWildcard() {
        CollectiveConfig config = CollectiveConfig.defaults();
        assertEquals(System.getProperty("java.io.tmpdir"), config.driverDirectoryRoot());
        assertTrue(config.chunkBytes() + FrameHeader.LENGTH <= config.termLengthBytes() / 8);
        assertTrue(config.receiverWindowBytes() <= config.socketReceiveBufferBytes());
    }

    @Test
    void everyProblemIsReportedInOneMessage() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> CollectiveConfig.builder()
                .bindAddress("0.0.0.0")
                .operationTimeoutMs(0)
                .mtuBytes(1500)
                .termLengthBytes(3_000_000)
                .chunkBytes(100)
                .receiverWindowBytes(8 << 20)
                .socketReceiveBufferBytes(1 << 20)
                .driverThreading(ThreadingMode.INVOKER)
                .build());
        String message = error.getMessage();
        for (String expected : new String[]{"wildcard address", "operationTimeoutMs must be positive",
                "mtuBytes must be a multiple of 32", "termLengthBytes must be a power of two",
                "chunkBytes must be a multiple of 8", "receiverWindowBytes 8388608 exceeds socketReceiveBufferBytes",
                "driverThreading must be"}) {
            assertTrue(message.contains(expected), "missing '" + expected + "' in: " + message);
        }
    }

    @Test
    void chunksMustFitAeronsLargestMessageAndHeartbeatsTheDeadline() {
        String chunk = assertThrows(IllegalArgumentException.class, () -> CollectiveConfig.builder()
                .termLengthBytes(1 << 20).chunkBytes(1 << 17).build()).getMessage();
        assertTrue(chunk.contains("exceeds Aeron's largest message"), chunk);
        String heartbeat = assertThrows(IllegalArgumentException.class, () -> CollectiveConfig.builder()
                .operationTimeoutMs(1_000).heartbeatIntervalMs(500).build()).getMessage();
        assertTrue(heartbeat.contains("heartbeatIntervalMs 500 is too long"), heartbeat);
    }

    @Test
    void survivesJavaSerializationForSparkClosures() throws Exception {
        CollectiveConfig config = CollectiveConfig.builder().bindAddress("10.1.2.3").wireCompression(WireCompression.BF16)
                .build();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(config);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            assertEquals(config, in.readObject());
        }
        assertEquals(config, config.toBuilder().build());
    }
}
