package io.lockstep.worker.comm;

import io.lockstep.worker.testing.ChildJvm;
import io.lockstep.worker.testing.ProcessFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A hostile process on the same host ({@link RogueProcess}) against authenticated collectives: frames it
 * replays or alters on the path, and frames it sends after joining without the job secret, are never
 * accepted; the victim's result is untouched or the operation fails naming the source, and the counters
 * show every refusal.
 */
class RogueProcessTest {
    private static final long TIMEOUT_MS = 4_000;
    private static final long WAIT_SECONDS = 60;

    private static CollectiveConfig config() {
        return InProcessGroup.testConfig().transport(TransportMode.UDP).chunkBytes(32 * 1024)
                .operationTimeoutMs(TIMEOUT_MS).heartbeatIntervalMs(100).closeLingerMs(500).build();
    }

    /**
     * Rank 0 reaches rank 1 through the rogue's relay. The first all-reduce passes untouched (the relay is
     * transparent); in the second the relay replays a frame of the first, or flips a bit: rank 1 refuses it
     * and everything after it on that link, and fails naming the relay's address.
     */
    @ParameterizedTest
    @ValueSource(strings = {"replay", "flip"})
    void framesReplayedOrAlteredOnThePathAreRefusedAndTheirSourceNamed(String attack, @TempDir Path directory)
            throws Exception {
        // 2 ranks, 32 KiB chunks, 128 KiB buffers: rank 0 sends rank 1 four data frames per all-reduce, so
        // the relay tampers with the second frame of the second all-reduce, replaying the first of the first.
        relayedFrameIsRefused(directory, 2, attack, 6, 1);
    }

    /**
     * On a ring of three, rank 1 forwards to rank 2, under rank 0's seal, the all-gather frames of the segment
     * rank 0 owns; the relay sits between ranks 1 and 2. In the second all-reduce it replays such a forwarded
     * frame of the first, or flips a bit of one: rank 2 refuses it (and then, as out of place, the next forwarded
     * frame: authentic, but not the chunk rank 2 waits for) and fails naming the relay's address.
     */
    @ParameterizedTest
    @ValueSource(strings = {"replay", "flip"})
    void forwardedFramesReplayedOrAlteredOnThePathAreRefusedAndTheirSourceNamed(String attack,
                                                                                @TempDir Path directory)
            throws Exception {
        // 3 ranks, 32 KiB chunks, 128 KiB buffers: segments of two chunks; rank 1 sends rank 2 eight data frames
        // per all-reduce, the last two forwarded. The relay replays the 7th (forwarded, first all-reduce) as the
        // 15th (forwarded, second all-reduce), or flips a bit of the 15th.
        relayedFrameIsRefused(directory, 3, attack, 15, 7);
    }

    /**
     * Ranks in a ring, the last reached from the one before it through the rogue's relay, which tampers with the
     * {@code tamperAt}-th data frame on that link (replaying the {@code captureAt}-th or flipping a bit). The
     * first all-reduce passes untouched; in the second the last rank refuses the tampered frame and fails
     * naming the relay's address, and no other rank refuses anything.
     */
    private static void relayedFrameIsRefused(Path directory, int size, String attack, int tamperAt, int captureAt)
            throws Exception {
        CollectiveConfig config = config();
        JobSecret secret = JobSecret.random();
        List<CollectiveBinding> bindings = new ArrayList<>();
        ExecutorService threads = Executors.newFixedThreadPool(size);
        Process rogue = null;
        int victim = size - 1;
        try {
            for (int rank = 0; rank < size; rank++) {
                bindings.add(AeronCollective.bind(config, new GroupMember("relayed", secret, 0, rank, size)));
            }
            List<Endpoint> endpoints = new ArrayList<>();
            bindings.forEach(binding -> endpoints.add(binding.localEndpoint()));
            Endpoint target = endpoints.get(victim);
            rogue = start(directory, "relay", target.host(), Integer.toString(target.port()), attack,
                    Integer.toString(tamperAt), Integer.toString(captureAt));
            int relayPort = Integer.parseInt(awaitFile(directory.resolve("relay-port"), rogue));
            List<Endpoint> throughRelay = new ArrayList<>(endpoints);
            throughRelay.set(victim, new Endpoint(victim, target.host(), relayPort, target.driverId(), target.instance()));
            List<Future<AeronCollective>> connecting = new ArrayList<>();
            for (int rank = 0; rank < size; rank++) {
                CollectiveBinding binding = bindings.get(rank);
                List<Endpoint> view = rank == victim - 1 ? throughRelay : endpoints;
                connecting.add(threads.submit(() -> binding.connect(view)));
            }
            AeronCollective[] ranks = new AeronCollective[size];
            for (int rank = 0; rank < size; rank++) {
                ranks[rank] = connecting.get(rank).get(WAIT_SECONDS, TimeUnit.SECONDS);
            }
            int length = 32 * 1024;
            float[] expectedSum = new float[length];
            float[][] buffers = new float[size][];
            for (int rank = 0; rank < size; rank++) {
                buffers[rank] = values(rank, length);
                for (int i = 0; i < length; i++) {
                    expectedSum[i] += buffers[rank][i];
                }
            }
            List<Future<?>> first = new ArrayList<>();
            for (int rank = 0; rank < size; rank++) {
                AeronCollective collective = ranks[rank];
                float[] buffer = buffers[rank];
                first.add(threads.submit(() -> {
                    collective.allReduce(buffer, ReduceOp.SUM);
                    return null;
                }));
            }
            for (Future<?> future : first) {
                future.get(WAIT_SECONDS, TimeUnit.SECONDS);
            }
            for (int rank = 0; rank < size; rank++) {
                assertArrayEquals(expectedSum, buffers[rank], "rank " + rank + " through the untouched relay");
            }

            List<Future<?>> second = new ArrayList<>();
            for (int rank = 0; rank < size; rank++) {
                AeronCollective collective = ranks[rank];
                float[] buffer = values(rank, length);
                second.add(threads.submit(() -> {
                    collective.allReduce(buffer, ReduceOp.SUM);
                    return null;
                }));
            }
            CollectiveException failure = assertInstanceOf(CollectiveException.class, failureOf(second.get(victim)));
            String tampered = awaitFile(directory.resolve("tampered"), rogue);
            assertTrue(tampered.startsWith(attack.equals("replay") ? "replayed" : "flipped"), tampered);
            String source = tampered.substring(tampered.lastIndexOf(" from ") + 6);
            assertTrue(failure.getMessage().contains("failed authentication, last from " + source),
                    "rank " + victim + " names the relay's address " + source + ": " + failure.getMessage());
            CollectiveStats stats = ranks[victim].stats();
            assertTrue(stats.unauthenticFrames() >= 1 && stats.unauthenticFrames() <= stats.rejectedFrames(),
                    stats.toString());
            // The others need the victim's segments, so they may fail too, but they refused nothing: their
            // incoming links are not tampered with.
            for (int rank = 0; rank < victim; rank++) {
                awaitEnd(second.get(rank));
                assertEquals(0, ranks[rank].stats().unauthenticFrames(), "rank " + rank);
            }
            for (int rank = 0; rank < size; rank++) {
                AeronCollective collective = ranks[rank];
                threads.submit(collective::close).get(WAIT_SECONDS, TimeUnit.SECONDS);
            }
        } finally {
            bindings.forEach(CollectiveBinding::close);
            threads.shutdownNow();
            if (rogue != null) {
                rogue.destroyForcibly().waitFor(WAIT_SECONDS, TimeUnit.SECONDS);
            }
        }
    }

    /**
     * The rogue joins as rank 1 knowing everything visible on the wire (session and stream ids, endpoints)
     * but not the job secret: every frame it sends, sealed under its own key or not sealed, is refused;
     * rank 0's buffer is untouched and its all-reduce fails naming rank 1 and the rogue's address.
     */
    @Test
    void aRogueWithoutTheSecretIsNeverAcceptedAndIsNamed(@TempDir Path directory) throws Exception {
        impostorIsRefused(directory, "127.0.0.1", "127.0.0.1", List.of());
    }

    /**
     * {@link #aRogueWithoutTheSecretIsNeverAcceptedAndIsNamed} with rank 0 bound to {@code victimHost} and
     * the rogue started through {@code launcher} (e.g. into another network namespace) at {@code rogueHost}.
     */
    static void impostorIsRefused(Path directory, String victimHost, String rogueHost, List<String> launcher)
            throws Exception {
        CollectiveConfig config = CollectiveChildProcess.config().toBuilder().bindAddress(victimHost).build();
        JobSecret secret = JobSecret.random();
        String jobId = "guarded";
        long attempt = 3;
        CollectiveBinding binding = AeronCollective.bind(config, new GroupMember(jobId, secret, attempt, 0, 2));
        ExecutorService rankZero = Executors.newSingleThreadExecutor();
        Process rogue = null;
        try {
            rogue = start(directory, launcher, List.of("-Drogue.idSeed=" + secret.idSeed(), "-Drogue.host=" + rogueHost),
                    "impostor", binding.localEndpoint().encode(), jobId, Long.toString(attempt));
            Endpoint impostor = Endpoint.decode(awaitFile(directory.resolve("impostor-endpoint"), rogue));
            assertEquals(rogueHost, impostor.host());
            AeronCollective zero = rankZero.submit(() -> binding.connect(List.of(binding.localEndpoint(), impostor)))
                    .get(WAIT_SECONDS, TimeUnit.SECONDS);
            float[] buffer = {1, 2, 3, 4};
            Future<?> reducing = rankZero.submit(() -> {
                zero.allReduce(buffer, ReduceOp.SUM);
                return null;
            });
            ProcessFiles.writeAtomically(directory.resolve("go"), out -> { });
            assertEquals("sent 2 control and 3 data frames", awaitFile(directory.resolve("tampered"), rogue));
            CollectiveTimeoutException timeout = assertInstanceOf(CollectiveTimeoutException.class, failureOf(reducing));
            assertEquals(List.of(1), timeout.silentRanks(), timeout.getMessage());
            assertTrue(timeout.getMessage().contains("The link from rank 1 delivered 5 frames that failed "
                    + "authentication, last from " + rogueHost + ":"), timeout.getMessage());
            assertEquals(5, zero.stats().unauthenticFrames(), zero.stats().toString());
            assertEquals(5, zero.stats().rejectedFrames());
            assertArrayEquals(new float[]{1, 2, 3, 4}, buffer, "nothing of the rogue's frames was added");
            rankZero.submit(zero::close).get(WAIT_SECONDS, TimeUnit.SECONDS);
        } finally {
            ProcessFiles.writeAtomically(directory.resolve("stop"), out -> { });
            binding.close();
            rankZero.shutdownNow();
            if (rogue != null) {
                rogue.waitFor(WAIT_SECONDS, TimeUnit.SECONDS);
                rogue.destroyForcibly();
            }
        }
    }

    private static float[] values(int rank, int length) {
        float[] values = new float[length];
        for (int i = 0; i < length; i++) {
            values[i] = (rank + 1) * 1000 + i % 97;
        }
        return values;
    }

    private static void awaitEnd(Future<?> future) throws Exception {
        try {
            future.get(WAIT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            assertInstanceOf(CollectiveException.class, e.getCause());
        }
    }

    private static Throwable failureOf(Future<?> future) throws Exception {
        try {
            future.get(WAIT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            return e.getCause();
        }
        throw new AssertionError("the operation succeeded");
    }

    private static Process start(Path directory, String... arguments) throws IOException {
        return start(directory, List.of(), List.of(), arguments);
    }

    private static Process start(Path directory, List<String> launcher, List<String> properties, String... arguments)
            throws IOException {
        List<String> command = new ArrayList<>(launcher);
        List<String> rogueArguments = new ArrayList<>();
        rogueArguments.add(directory.toString());
        rogueArguments.addAll(List.of(arguments));
        command.addAll(ChildJvm.command(RogueProcess.class, "256m", properties, rogueArguments));
        return new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(directory.resolve("rogue.log").toFile()).start();
    }

    /** The file's content once it exists; fails early, with the rogue's log, if the rogue dies first. */
    private static String awaitFile(Path file, Process rogue) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
        while (!Files.exists(file)) {
            if (!rogue.isAlive() && !Files.exists(file)) {
                throw new AssertionError("the rogue exited with " + rogue.exitValue() + " before writing "
                        + file.getFileName() + ":\n" + Files.readString(file.resolveSibling("rogue.log")));
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no " + file + " after " + WAIT_SECONDS + " s");
            }
            java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
        return Files.readString(file);
    }
}
