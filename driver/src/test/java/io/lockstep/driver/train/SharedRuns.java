package io.lockstep.driver.train;

import io.lockstep.driver.Main;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Training runs that several test classes read, each trained once per test JVM (Surefire runs a module's
 * classes in one JVM) instead of once per class. A test that alters a run's output copies it first.
 */
public final class SharedRuns {
    /** Where the runs go: under the module's build directory, so {@code mvn clean} removes them. */
    private static final Path ROOT = Path.of("target", "shared-runs").toAbsolutePath();

    /**
     * The options of {@link #twoReplicas()}, for tests that compare it with the same job under other options:
     * lenet5, 2 replicas x 16 images, 2 epochs of 5 steps, constant rate 0.02, seed 5, replicas' parameters
     * compared every 3 steps.
     */
    public static final List<String> TWO_REPLICAS_JOB = List.of("--model", "lenet5",
            "--data", SingleReplicaTrainingTest.SUBSET.toString(), "--epochs", "2", "--max-steps-per-epoch", "5",
            "--lr", "0.02", "--lr-scaling", "none", "--lr-decay", "none", "--seed", "5", "--check-every", "3",
            "--replicas", "2", "--batch-size", "16");

    private static Path twoReplicas;
    private static boolean twoReplicasFailed;

    private SharedRuns() {
    }

    /** The output directory of {@code lockstep train} with {@link #TWO_REPLICAS_JOB} and the default options. */
    public static synchronized Path twoReplicas() {
        if (twoReplicas == null) {
            if (twoReplicasFailed) {
                throw new IllegalStateException("the shared two-replica run failed: see the first test that needed it");
            }
            twoReplicasFailed = true;
            Path out;
            try {
                Files.createDirectories(ROOT);
                out = Files.createTempDirectory(ROOT, "two-replicas-");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            List<String> args = new java.util.ArrayList<>(List.of("train", "--out", out.toString()));
            args.addAll(TWO_REPLICAS_JOB);
            int code = Main.run(args.toArray(String[]::new));
            if (code != 0) {
                throw new IllegalStateException("the shared two-replica run exited with " + code);
            }
            twoReplicas = out;
            twoReplicasFailed = false;
        }
        return twoReplicas;
    }
}
