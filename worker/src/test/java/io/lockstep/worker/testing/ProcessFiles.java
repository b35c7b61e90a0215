package io.lockstep.worker.testing;

import io.lockstep.worker.comm.Endpoint;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * TEST FIXTURE — how a test and its child JVMs talk: files in a shared directory, each written under a
 * temporary name and moved into place, so a reader never sees half a file; and a rendezvous of collective
 * ranks through such files, standing in for Spark's {@code allGather}.
 */
public final class ProcessFiles {
    private ProcessFiles() {
    }

    /** Writes the file's content through {@code out}. */
    @FunctionalInterface
    public interface Writer {
        void write(OutputStream out) throws IOException;
    }

    public static void writeAtomically(Path file, Writer writer) throws IOException {
        Path temporary = file.resolveSibling(file.getFileName() + ".tmp");
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(temporary))) {
            writer.write(out);
        }
        Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Waits for {@code file} to appear; gives up at {@code deadlineNanos} ({@link System#nanoTime()}). */
    public static void awaitFile(Path file, long deadlineNanos) {
        while (!Files.exists(file)) {
            if (System.nanoTime() - deadlineNanos > 0) {
                throw new IllegalStateException("gave up waiting for " + file);
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
    }

    /** Publishes {@code local} as {@code endpoint-<rank>} in {@code directory} and waits for every rank's. */
    public static List<Endpoint> rendezvous(Path directory, Endpoint local, int size, long timeoutMs) {
        try {
            writeAtomically(directory.resolve("endpoint-" + local.rank()),
                    out -> out.write(local.encode().getBytes(StandardCharsets.UTF_8)));
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
            List<Endpoint> endpoints = new ArrayList<>();
            for (int rank = 0; rank < size; rank++) {
                Path file = directory.resolve("endpoint-" + rank);
                awaitFile(file, deadline);
                endpoints.add(Endpoint.decode(Files.readString(file)));
            }
            return endpoints;
        } catch (IOException e) {
            throw new IllegalStateException("rendezvous through " + directory + " failed", e);
        }
    }
}
