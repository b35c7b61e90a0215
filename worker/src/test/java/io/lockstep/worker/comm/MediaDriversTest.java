package io.lockstep.worker.comm;

import io.aeron.driver.ThreadingMode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MediaDriversTest {
    @Test
    void ranksOfOneJvmShareOneDriverThatStopsWithTheLastHandle(@TempDir Path root) throws Exception {
        CollectiveConfig config = CollectiveConfig.builder().driverDirectoryRoot(root.toString()).build();
        MediaDrivers.Handle first = MediaDrivers.acquire(config);
        MediaDrivers.Handle second = MediaDrivers.acquire(config);
        assertEquals(first.directory(), second.directory());
        assertEquals(first.driverId(), second.driverId());
        Path directory = Path.of(first.directory());
        assertTrue(directory.startsWith(root) && Files.isDirectory(directory), "the driver lives under the root");

        first.close();
        first.close(); // idempotent: must not release the second rank's claim
        assertTrue(Files.isDirectory(directory), "still in use by the second handle");
        second.close();
        assertFalse(Files.exists(directory), "deleted with the last handle");

        try (MediaDrivers.Handle restarted = MediaDrivers.acquire(config)) {
            assertNotEquals(first.driverId(), restarted.driverId(), "a new driver gets a new id");
        }
    }

    @Test
    void theDriversThreadsParkUpToAMillisecondByDefaultAndAsConfiguredOtherwise(@TempDir Path root) {
        CollectiveConfig defaults = CollectiveConfig.builder().driverDirectoryRoot(root.resolve("a").toString()).build();
        try (MediaDrivers.Handle handle = MediaDrivers.acquire(defaults)) {
            String idle = handle.idleStrategies();
            assertEquals(2, idle.split("maxParkPeriodNs=1000000\\b", -1).length - 1, idle);
        }
        CollectiveConfig tight = CollectiveConfig.builder().driverDirectoryRoot(root.resolve("b").toString())
                .driverIdleMode(IdleMode.BACKOFF).build();
        try (MediaDrivers.Handle handle = MediaDrivers.acquire(tight)) {
            String idle = handle.idleStrategies();
            assertEquals(2, idle.split("maxParkPeriodNs=100000\\b", -1).length - 1, idle);
        }
    }

    @Test
    void theDriverRunsItsConductorButNoNameResolutionThread(@TempDir Path root) {
        CollectiveConfig config = CollectiveConfig.builder().driverDirectoryRoot(root.toString()).build();
        try (MediaDrivers.Handle handle = MediaDrivers.acquire(config)) {
            List<String> names = Thread.getAllStackTraces().keySet().stream().map(Thread::getName).toList();
            assertTrue(names.contains("driver-conductor"), "the driver's conductor runs: " + names);
            // Aeron's asynchronous name resolver ("aeron-executor") sleeps 1 ms at a time for the whole run;
            // Lockstep's channels carry numeric addresses, so the conductor resolves them itself.
            assertFalse(names.contains("aeron-executor"), "no name-resolution thread: " + names);
        }
    }

    @Test
    void aSecondRankWithOtherDriverSettingsIsRefused(@TempDir Path root) {
        CollectiveConfig shared = CollectiveConfig.builder().driverDirectoryRoot(root.toString())
                .driverThreading(ThreadingMode.SHARED).build();
        try (MediaDrivers.Handle handle = MediaDrivers.acquire(shared)) {
            CollectiveException error = assertThrows(CollectiveException.class, () -> MediaDrivers.acquire(
                    shared.toBuilder().driverThreading(ThreadingMode.DEDICATED).build()));
            assertTrue(error.getMessage().contains("different settings"), error.getMessage());
        }
    }

    @Test
    void directoriesOfDeadProcessesAreCleanedUp(@TempDir Path root) throws Exception {
        // A pid far above any live process's: the directory looks like one a crashed JVM left behind.
        Path stale = Files.createDirectories(root.resolve("lockstep-aeron-2147483000-deadbeef"));
        Files.writeString(stale.resolve("cnc.dat"), "not a live driver");
        try (MediaDrivers.Handle handle = MediaDrivers.acquire(
                CollectiveConfig.builder().driverDirectoryRoot(root.toString()).build())) {
            assertFalse(Files.exists(stale), "the stale directory was deleted");
        }
    }

    @Test
    void anUnwritableRootFailsWithTheFix(@TempDir Path root) throws Exception {
        Path file = Files.writeString(root.resolve("not-a-directory"), "x");
        CollectiveException error = assertThrows(CollectiveException.class, () -> MediaDrivers.acquire(
                CollectiveConfig.builder().driverDirectoryRoot(file.toString()).build()));
        assertTrue(error.getMessage().contains("driverDirectoryRoot"), error.getMessage());
    }
}
