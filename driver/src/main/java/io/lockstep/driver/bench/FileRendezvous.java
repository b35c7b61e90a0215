package io.lockstep.driver.bench;

import io.lockstep.worker.comm.Endpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Rendezvous of benchmark ranks that run as separate processes without Spark: each publishes its endpoint
 * as a file in a directory every rank can read and write, then waits (bounded) for everyone's.
 */
final class FileRendezvous {
    private FileRendezvous() {
    }

    /** Publishes {@code local} as rank {@code rank}'s endpoint in {@code directory}; returns all {@code ranks} endpoints. */
    static List<Endpoint> exchange(Path directory, int rank, int ranks, Endpoint local, long timeoutMs) {
        try {
            Files.createDirectories(directory);
            Path mine = directory.resolve("endpoint-" + rank);
            Path temporary = directory.resolve("endpoint-" + rank + ".tmp");
            Files.writeString(temporary, local.encode());
            Files.move(temporary, mine, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
            List<Endpoint> endpoints = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                Path file = directory.resolve("endpoint-" + r);
                while (!Files.exists(file)) {
                    if (System.nanoTime() - deadline > 0) {
                        throw new IllegalStateException("rank " + r + " did not publish its endpoint in " + directory
                                + " within " + timeoutMs + " ms: start every rank with the same --rendezvous");
                    }
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
                }
                endpoints.add(Endpoint.decode(Files.readString(file)));
            }
            return endpoints;
        } catch (IOException e) {
            throw new IllegalStateException("rendezvous through " + directory + " failed: " + e.getMessage(), e);
        }
    }
}
