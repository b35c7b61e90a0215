package io.lockstep.it.harness.apps;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.rdd.RDD;
import scala.Function1;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag$;

/**
 * A Spark application for harness tests (run with spark-submit): one barrier stage of N tasks,
 * each doing one {@code allGather} of "p&lt;partition&gt;@&lt;pid&gt;" and returning where it ran.
 *
 * <p>Options: {@code --result FILE} (required; outcome written there, see {@link ProbeResult});
 * {@code --tasks N} (default 2); {@code --then collect|shuffle} (default collect: the barrier stage
 * is the job's ResultStage; shuffle: a ShuffleMapStage feeding a repartition);
 * {@code --hold-dir DIR} (attempt-0 tasks, after the allGather, create
 * {@code DIR/running-p<partition>-pid<pid>} and wait until {@code DIR/release} exists);
 * {@code --hold-timeout-ms MS} (default 120000); {@code --interrupt-on-cancel true|false}
 * (default true: the job property {@code spark.job.interruptOnCancel}, so surviving tasks of a
 * failed barrier stage are interrupted rather than left running).
 *
 * <p>Exits 0 if the job succeeded, 1 if it failed (the error goes to the result file), 2 on bad
 * arguments. It exits explicitly: a main can hang after {@code sc.stop()} on a non-daemon thread.
 */
public final class BarrierProbeApp {
    static final String RELEASE_FILE = "release";

    private BarrierProbeApp() {
    }

    public static void main(String[] argv) {
        Options options;
        try {
            options = Options.parse(argv);
        } catch (IllegalArgumentException e) {
            System.err.println("BarrierProbeApp: " + e.getMessage());
            System.exit(2);
            return;
        }
        System.exit(run(options));
    }

    private static int run(Options options) {
        JavaSparkContext sc = new JavaSparkContext(new SparkConf().setAppName("barrier-probe"));
        List<String> lines = new ArrayList<>();
        int exitCode;
        long startNanos = System.nanoTime();
        try {
            sc.setLocalProperty("spark.job.interruptOnCancel", Boolean.toString(options.interruptOnCancel));
            JavaRDD<Integer> seeds = sc.parallelize(IntStream.range(0, options.tasks).boxed().toList(), options.tasks);
            RDD<String> gathered = seeds.rdd().barrier().mapPartitions(
                    new ProbeTask(options.holdDir, options.holdTimeoutMs), false, ClassTag$.MODULE$.apply(String.class));
            JavaRDD<String> result = gathered.toJavaRDD();
            if (options.then.equals("shuffle")) {
                result = result.repartition(1);
            }
            List<String> tasks = result.collect();
            lines.add(ProbeResult.OUTCOME + "SUCCEEDED");
            tasks.forEach(lines::add);
            exitCode = 0;
        } catch (Exception e) { // SparkException is checked, but the Java API throws it undeclared
            lines.add(ProbeResult.OUTCOME + "FAILED");
            lines.add(ProbeResult.ERROR + String.valueOf(e.getMessage()).replace('\n', ' '));
            exitCode = 1;
        }
        lines.add(ProbeResult.ELAPSED_MS + (System.nanoTime() - startNanos) / 1_000_000);
        writeAtomically(options.result, lines);
        lines.forEach(System.out::println);
        sc.stop();
        return exitCode;
    }

    private static void writeAtomically(Path file, List<String> lines) {
        try {
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.write(tmp, lines);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("Could not write the result file " + file, e);
        }
    }

    /** The barrier task; runs on executors. */
    static final class ProbeTask implements Function1<Iterator<Integer>, Iterator<String>>, Serializable {
        private static final long serialVersionUID = 1L;
        private final String holdDir;
        private final long holdTimeoutMs;

        ProbeTask(Path holdDir, long holdTimeoutMs) {
            this.holdDir = holdDir == null ? null : holdDir.toString();
            this.holdTimeoutMs = holdTimeoutMs;
        }

        @Override
        public Iterator<String> apply(Iterator<Integer> partition) {
            BarrierTaskContext context = BarrierTaskContext.get();
            long pid = ProcessHandle.current().pid();
            String[] all = context.allGather("p" + context.partitionId() + "@" + pid);
            if (holdDir != null && context.stageAttemptNumber() == 0) {
                hold(Path.of(holdDir), context.partitionId(), pid);
            }
            String line = ProbeResult.TASK + "partition=" + context.partitionId()
                    + " attempt=" + context.stageAttemptNumber()
                    + " executor=" + SparkEnv.get().executorId()
                    + " pid=" + pid
                    + " gathered=" + String.join(",", all);
            return CollectionConverters.asScala(List.of(line).iterator());
        }

        private void hold(Path dir, int partitionId, long pid) {
            try {
                Files.createFile(dir.resolve("running-p" + partitionId + "-pid" + pid));
                long deadline = System.nanoTime() + holdTimeoutMs * 1_000_000;
                Path release = dir.resolve(RELEASE_FILE);
                while (!Files.exists(release)) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("Task " + partitionId + " waited " + holdTimeoutMs
                                + " ms for " + release + ", which the test never created");
                    }
                    Thread.sleep(50);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("Task " + partitionId + " interrupted while holding", e);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private record Options(Path result, int tasks, String then, Path holdDir, long holdTimeoutMs,
                           boolean interruptOnCancel) {
        static Options parse(String[] argv) {
            Path result = null;
            int tasks = 2;
            String then = "collect";
            Path holdDir = null;
            long holdTimeoutMs = 120_000;
            boolean interrupt = true;
            for (int i = 0; i < argv.length; i += 2) {
                if (i + 1 >= argv.length) {
                    throw new IllegalArgumentException("option " + argv[i] + " needs a value");
                }
                String value = argv[i + 1];
                switch (argv[i]) {
                    case "--result" -> result = Path.of(value);
                    case "--tasks" -> tasks = Integer.parseInt(value);
                    case "--then" -> then = value;
                    case "--hold-dir" -> holdDir = Path.of(value);
                    case "--hold-timeout-ms" -> holdTimeoutMs = Long.parseLong(value);
                    case "--interrupt-on-cancel" -> interrupt = Boolean.parseBoolean(value);
                    default -> throw new IllegalArgumentException("unknown option " + argv[i]);
                }
            }
            if (result == null || tasks < 1 || !(then.equals("collect") || then.equals("shuffle")) || holdTimeoutMs < 1) {
                throw new IllegalArgumentException("usage: --result FILE [--tasks N>=1] [--then collect|shuffle]"
                        + " [--hold-dir DIR] [--hold-timeout-ms MS>0] [--interrupt-on-cancel true|false]");
            }
            return new Options(result, tasks, then, holdDir, holdTimeoutMs, interrupt);
        }
    }
}
