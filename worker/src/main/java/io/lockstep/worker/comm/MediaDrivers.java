package io.lockstep.worker.comm;

import io.aeron.CommonContext;
import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import org.agrona.IoUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The JVM's embedded Aeron media drivers, shared and reference-counted by every rank of the JVM.
 *
 * <p>{@link #acquire(CollectiveConfig)} starts a driver on first use under a fresh directory
 * {@code <driverDirectoryRoot>/lockstep-aeron-<pid>-<random>} and returns a {@link Handle}; later
 * acquisitions with the same root share it. Closing the last handle stops the driver and deletes its
 * directory. One driver per root directory: ranks of one JVM must agree on the driver settings
 * ({@link CollectiveConfig#driverThreading()}, {@link CollectiveConfig#driverIdleMode()}), and a
 * mismatch fails the acquisition rather than silently running with the first rank's settings.
 *
 * <p>This registry is the JVM's only shared mutable state in the comm package; it is guarded by one
 * lock and holds nothing once every handle is closed. Directories left behind by crashed JVMs
 * (process gone and driver heartbeat stale) are deleted when a new driver starts under the same root.
 */
public final class MediaDrivers {
    private static final Logger LOG = LoggerFactory.getLogger(MediaDrivers.class);
    private static final String DIRECTORY_PREFIX = "lockstep-aeron-";
    private static final long STALE_DRIVER_TIMEOUT_MS = 10_000;
    /**
     * How long a process may stop running (a long garbage collection, a starved or throttled container)
     * before Aeron gives up on it. Aeron's defaults (10 s for a client's liveness, a stream's image and the
     * client's view of the driver) turn such a pause into a fatal client error or a lost image, which fails a
     * training step that its own operation deadline would have let finish. Lost peers are still found by the
     * collective's heartbeats and deadlines, which do not depend on these timeouts.
     */
    static final long STALL_TOLERANCE_MS = 60_000;
    private static final SecureRandom RANDOM = new SecureRandom();

    private static final Object LOCK = new Object();
    /** Running drivers by normalized root directory; guarded by {@link #LOCK}. */
    private static final Map<Path, Shared> RUNNING = new HashMap<>();

    private MediaDrivers() {
    }

    /**
     * Returns a handle on the JVM's driver for the configured root directory, starting it if needed.
     *
     * @throws CollectiveException when the driver cannot start (directory not writable, no space) or a
     *                             driver with different settings already runs under the same root
     */
    public static Handle acquire(CollectiveConfig config) {
        CollectiveConfig.DriverSettings settings = config.driverSettings();
        Path root = Path.of(settings.directoryRoot()).toAbsolutePath().normalize();
        synchronized (LOCK) {
            Shared shared = RUNNING.get(root);
            if (shared == null) {
                shared = launch(root, settings);
                RUNNING.put(root, shared);
            } else if (!shared.settings.equals(settings)) {
                throw new CollectiveException("a media driver with different settings already runs in this JVM under "
                        + root + ": running " + describe(shared.settings) + ", requested " + describe(settings)
                        + "; every rank of one JVM must use the same driverThreading and driverIdleMode");
            }
            shared.references++;
            return new Handle(shared, root);
        }
    }

    /** Number of drivers currently running in this JVM (for tests and diagnostics). */
    public static int runningCount() {
        synchronized (LOCK) {
            return RUNNING.size();
        }
    }

    private static void release(Shared shared, Path root) {
        synchronized (LOCK) {
            shared.references--;
            if (shared.references > 0) {
                return;
            }
            RUNNING.remove(root);
            try {
                shared.driver.close();
            } finally {
                // The driver deletes its directory on shutdown; make sure even if it failed midway.
                IoUtil.delete(new File(shared.directory), true);
            }
            LOG.info("Stopped media driver {} and deleted {}", shared.id, shared.directory);
        }
    }

    private static Shared launch(Path root, CollectiveConfig.DriverSettings settings) {
        try {
            Files.createDirectories(root);
        } catch (IOException e) {
            throw new CollectiveException("cannot create the media driver root directory " + root + ": " + e
                    + "; set driverDirectoryRoot to a writable local directory", e);
        }
        deleteStaleDirectories(root);
        long pid = ProcessHandle.current().pid();
        String id = Long.toString(pid, 36) + "-" + Long.toHexString(RANDOM.nextLong() & Long.MAX_VALUE);
        String directory = root.resolve(DIRECTORY_PREFIX + pid + "-" + id.substring(id.indexOf('-') + 1)).toString();
        MediaDriver.Context context = new MediaDriver.Context()
                .aeronDirectoryName(directory)
                .dirDeleteOnStart(true)
                .dirDeleteOnShutdown(true)
                .warnIfDirectoryExists(false)
                .termBufferSparseFile(true)
                .threadingMode(settings.threading())
                // Channels carry IP literals only (CollectiveBinding resolves host names before building them), so
                // Aeron's asynchronous name-resolution thread never has work, yet it wakes every millisecond: about
                // 2 % of a core per JVM on a virtual machine. Without it the conductor resolves the literals itself.
                .asyncExecutorEnabled(false)
                .clientLivenessTimeoutNs(TimeUnit.MILLISECONDS.toNanos(STALL_TOLERANCE_MS))
                .imageLivenessTimeoutNs(TimeUnit.MILLISECONDS.toNanos(STALL_TOLERANCE_MS))
                .publicationConnectionTimeoutNs(TimeUnit.MILLISECONDS.toNanos(STALL_TOLERANCE_MS))
                // Aeron requires the unblock timeout to exceed the client liveness timeout.
                .publicationUnblockTimeoutNs(TimeUnit.MILLISECONDS.toNanos(STALL_TOLERANCE_MS + 15_000))
                .errorHandler(error -> LOG.error("Aeron media driver {} reported an error", directory, error));
        applyIdleStrategies(context, settings.threading(), settings.idleMode());
        try {
            MediaDriver driver = MediaDriver.launch(context);
            LOG.info("Started media driver {} ({}, idle {}) in {}", id, settings.threading(), settings.idleMode(),
                    directory);
            return new Shared(driver, settings, id, driver.aeronDirectoryName());
        } catch (RuntimeException e) {
            context.close();
            IoUtil.delete(new File(directory), true);
            throw new CollectiveException("cannot start the Aeron media driver in " + directory + ": " + e.getMessage()
                    + "; check that driverDirectoryRoot (" + root + ") is a writable local directory with free space",
                    e);
        }
    }

    private static void applyIdleStrategies(MediaDriver.Context context, ThreadingMode threading, IdleMode idle) {
        switch (threading) {
            case SHARED -> context.sharedIdleStrategy(idle.newStrategy());
            case SHARED_NETWORK -> context.sharedNetworkIdleStrategy(idle.newStrategy())
                    .conductorIdleStrategy(idle.newStrategy());
            default -> context.senderIdleStrategy(idle.newStrategy())
                    .receiverIdleStrategy(idle.newStrategy())
                    .conductorIdleStrategy(idle.newStrategy());
        }
    }

    /** Deletes directories of drivers whose JVM is gone and whose heartbeat stopped. */
    private static void deleteStaleDirectories(Path root) {
        Set<Path> stale = new HashSet<>();
        try (DirectoryStream<Path> children = Files.newDirectoryStream(root, DIRECTORY_PREFIX + "*")) {
            for (Path child : children) {
                String rest = child.getFileName().toString().substring(DIRECTORY_PREFIX.length());
                int dash = rest.indexOf('-');
                if (dash <= 0) {
                    continue;
                }
                long pid;
                try {
                    pid = Long.parseLong(rest.substring(0, dash));
                } catch (NumberFormatException e) {
                    continue;
                }
                boolean processAlive = ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
                if (!processAlive && !CommonContext.isDriverActive(child.toFile(), STALE_DRIVER_TIMEOUT_MS, s -> { })) {
                    stale.add(child);
                }
            }
        } catch (IOException | UncheckedIOException e) {
            LOG.warn("Could not scan {} for stale media driver directories: {}", root, e.toString());
            return;
        }
        for (Path directory : stale) {
            LOG.info("Deleting media driver directory {} left by a process that no longer runs", directory);
            IoUtil.delete(directory.toFile(), true);
        }
    }

    private static String describe(CollectiveConfig.DriverSettings settings) {
        return "threading " + settings.threading() + ", idle " + settings.idleMode();
    }

    private static final class Shared {
        final MediaDriver driver;
        final CollectiveConfig.DriverSettings settings;
        final String id;
        final String directory;
        int references;

        Shared(MediaDriver driver, CollectiveConfig.DriverSettings settings, String id, String directory) {
            this.driver = driver;
            this.settings = settings;
            this.id = id;
            this.directory = directory;
        }
    }

    /**
     * One rank's claim on the JVM's driver. {@link #close()} releases it (idempotent); the driver stops
     * when the last claim is released, so close only after the rank's Aeron client is closed.
     */
    public static final class Handle implements AutoCloseable {
        private final Shared shared;
        private final Path root;
        private final AtomicBoolean closed = new AtomicBoolean();

        private Handle(Shared shared, Path root) {
            this.shared = shared;
            this.root = root;
        }

        /** The driver's Aeron directory, for {@code Aeron.Context#aeronDirectoryName}. */
        public String directory() {
            return shared.directory;
        }

        /** How the driver's conductor and network threads wait, as Agrona describes the strategies in force. */
        String idleStrategies() {
            MediaDriver.Context context = shared.driver.context();
            return "conductor " + context.conductorIdleStrategy() + ", network " + switch (context.threadingMode()) {
                case SHARED -> context.sharedIdleStrategy();
                case SHARED_NETWORK -> context.sharedNetworkIdleStrategy();
                default -> context.senderIdleStrategy() + " / " + context.receiverIdleStrategy();
            };
        }

        /** Unique id of this driver instance; ranks with equal ids can use IPC. */
        public String driverId() {
            return shared.id;
        }

        @Override
        public void close() {
            if (closed.compareAndSet(false, true)) {
                release(shared, root);
            }
        }
    }
}
