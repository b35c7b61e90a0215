package io.lockstep.driver.bench;

import io.lockstep.models.InputShape;
import io.lockstep.models.Normalization;
import io.lockstep.models.OneDnn;
import io.lockstep.worker.comm.AeronCollective;
import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.CollectiveConfig;
import io.lockstep.worker.comm.GroupMember;
import io.lockstep.worker.comm.JobSecret;
import io.lockstep.worker.comm.TransportMode;
import io.lockstep.worker.comm.WireCompression;
import io.lockstep.worker.exchange.ExchangeSettings;
import io.lockstep.worker.exchange.ExchangeStrategies;
import io.lockstep.worker.nn.BatchNormSwap;
import io.lockstep.worker.nn.SyncBatchNorms;
import io.lockstep.worker.train.BatchSource;
import io.lockstep.worker.train.ComputeThreads;
import io.lockstep.worker.train.GradientExchange;
import io.lockstep.worker.train.LearningRateSchedule;
import io.lockstep.worker.train.ModelRecipe;
import io.lockstep.worker.train.Optimizer;
import io.lockstep.worker.train.ReplicaTrainer;
import io.lockstep.worker.train.StepTiming;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code lockstep bench train-rank}: one replica (this process) of synchronous data-parallel training on
 * synthetic data, for replicas on separate hosts or network namespaces with shaped links (see
 * {@code benchmarks/emulated-cluster/}). Every rank runs the same options with its own {@code --rank} and
 * {@code --bind}; they meet through endpoint files in {@code --rendezvous}, as {@code allreduce-rank} does.
 * Each mode ({@code --modes}) trains the same model from the same initial parameters on the same batches
 * with the exchange {@code train --exchange allreduce} builds: {@code OFF} (whole gradient after backward),
 * {@code ON} ({@code --overlap on}: buckets during backward), {@code BF16} / {@code FP16} (overlap off,
 * {@code --wire-compression}) and {@code ON_BF16} (both). Modes alternate over {@code --rounds} so drifting
 * load hits each alike.
 * Rank 0 prints, per mode, the median over the measured steps of the step (wall), compute, exposed
 * exchange (what the training thread waits in the exchange) and BatchNorm synchronization, as
 * {@link StepTiming} measures them in {@code train}; the exposed exchange is the slowest rank's. Asserts
 * nothing.
 */
@Command(name = "train-rank", mixinStandardHelpOptions = true, showDefaultValues = true,
        description = "One replica (this process) of a training step-time benchmark across processes or hosts.")
public final class TrainRankBenchmark implements Callable<Integer> {
    private static final long TIMEOUT_MS = 300_000;
    private static final int CLASSES = 10;

    /** How the gradient travels. */
    enum Mode {
        OFF(false, WireCompression.NONE), ON(true, WireCompression.NONE), BF16(false, WireCompression.BF16),
        FP16(false, WireCompression.FP16), ON_BF16(true, WireCompression.BF16);

        final boolean overlap;
        final WireCompression compression;

        Mode(boolean overlap, WireCompression compression) {
            this.overlap = overlap;
            this.compression = compression;
        }

        String label() {
            return switch (this) {
                case OFF -> "overlap off";
                case ON -> "overlap on";
                case BF16 -> "bf16 wire";
                case FP16 -> "fp16 wire";
                case ON_BF16 -> "on + bf16";
            };
        }
    }

    @Mixin
    RankProcessOptions process;

    @Option(names = "--model", defaultValue = "resnet18")
    String model;

    @Option(names = "--input", defaultValue = "3x32x32", description = "CxHxW")
    String input;

    @Option(names = "--batch-size", defaultValue = "16", description = "per replica")
    int batchSize;

    @Option(names = "--warmup-steps", defaultValue = "3")
    int warmupSteps;

    @Option(names = "--steps", defaultValue = "8", description = "measured steps per mode and round")
    int steps;

    @Option(names = "--modes", split = ",", defaultValue = "OFF,ON,BF16", description = "of ${COMPLETION-CANDIDATES}")
    List<Mode> modes;

    @Option(names = "--rounds", defaultValue = "1", description = "passes over --modes")
    int rounds;

    @Option(names = "--norm", defaultValue = "sync-batch", description = "sync-batch or batch (per replica)")
    String norm;

    @Option(names = "--bucket-size", defaultValue = "25", description = "--overlap on bucket size, MB")
    double bucketMb;

    @Option(names = "--threads", defaultValue = "1", description = "compute threads of this replica")
    int threads;

    /** Runs one rank without the {@code lockstep} launcher. */
    public static void main(String[] args) {
        System.exit(new picocli.CommandLine(new TrainRankBenchmark()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        if (!norm.equals("sync-batch") && !norm.equals("batch")) {
            throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this),
                    "--norm: expected sync-batch or batch, got " + norm);
        }
        ComputeThreads.bind(threads);
        InputShape shape = InputShape.parse(input);
        ModelRecipe recipe = new ModelRecipe(model, CLASSES, shape.channels(), shape.height(), shape.width(),
                Normalization.BATCH, 7L, Optimizer.NESTEROV, 0.01, 1e-4);
        List<DataSet> batches = batches(shape);
        if (process.rank == 0) {
            System.out.printf(Locale.ROOT, "Lockstep training step across processes, %s%n", Instant.now());
            System.out.printf(Locale.ROOT, "model %s, input %s, %d parameters, N=%d x batch %d, norm %s, bucket %.1f MB, "
                            + "%d threads per rank (%s), OneDNN %s, UDP mtu %d, nominal link %s; %d warm-up + %d measured steps%n",
                    model, shape, recipe.build().numParams(), process.ranks, batchSize, norm, bucketMb, ComputeThreads.inForce(),
                    ComputeThreads.describe(), OneDnn.probe().detail(), process.mtu, process.nominalLink(), warmupSteps, steps);
            System.out.printf(Locale.ROOT, "%-12s %9s %11s %14s %14s %12s %12s  %s%n", "mode", "step ms", "compute ms",
                    "exposed ms", "(rank 0) ms", "BN sync ms", "sent MB", "exposed per rank, ms");
        }
        for (int round = 0; round < rounds; round++) {
            for (Mode mode : modes) {
                run(recipe, batches, mode, round);
            }
        }
        return 0;
    }

    /** Every rank's batches: synthetic, from a seed of its own, generated before timing starts. */
    private List<DataSet> batches(InputShape shape) {
        int rank = process.rank;
        Nd4j.getRandom().setSeed(1000L + rank);
        List<DataSet> batches = new ArrayList<>();
        for (int s = 0; s < warmupSteps + steps; s++) {
            INDArray features = Nd4j.rand(DataType.FLOAT, batchSize, shape.channels(), shape.height(), shape.width());
            INDArray labels = Nd4j.zeros(DataType.FLOAT, batchSize, CLASSES);
            for (int i = 0; i < batchSize; i++) {
                labels.putScalar(i, (i * 3 + s + rank) % CLASSES, 1f);
            }
            batches.add(new DataSet(features, labels));
        }
        return batches;
    }

    private void run(ModelRecipe recipe, List<DataSet> batches, Mode mode, int round) throws InterruptedException {
        String name = mode.name().toLowerCase(Locale.ROOT) + "-" + round;
        int rank = process.rank;
        int ranks = process.ranks;
        CollectiveConfig config = process.collectiveConfig(TIMEOUT_MS).transport(TransportMode.UDP).build();
        JobSecret secret = JobSecret.derive("bench".getBytes(StandardCharsets.UTF_8), "train-rank");
        ExchangeSettings settings = ExchangeSettings.defaults().withOverlap(mode.overlap, Math.round(bucketMb * 1024 * 1024));
        Collective opened = AeronCollective.open(config, new GroupMember("train-rank/" + name, secret, 0, rank, ranks),
                local -> FileRendezvous.exchange(process.rendezvous.resolve(name), rank, ranks, local, TIMEOUT_MS));
        try (Collective collective = ExchangeStrategies.communication(ExchangeStrategies.ALLREDUCE, settings, opened,
                TIMEOUT_MS + 30_000)) {
            ComputationGraph graph = recipe.build();
            if (norm.equals("sync-batch")) {
                graph = BatchNormSwap.toSync(graph);
                SyncBatchNorms.attach(graph, collective);
            } else {
                graph = BatchNormSwap.toSync(graph, false);
            }
            GradientExchange exchange = ExchangeStrategies.create(ExchangeStrategies.ALLREDUCE, settings, collective, Set.of(),
                    mode.compression);
            int total = warmupSteps + steps;
            ReplicaTrainer trainer = new ReplicaTrainer(graph, collective, exchange,
                    new LearningRateSchedule(0.01, LearningRateSchedule.Scaling.NONE, ranks, 0, total), 0, TIMEOUT_MS);
            long[] wall = new long[total];
            long[] compute = new long[total];
            long[] exposed = new long[total];
            long[] normSync = new long[total];
            long[] bytes = new long[total];
            long[] last = {System.nanoTime()};
            trainer.trainEpoch(0, new BatchSource() {
                @Override
                public int steps() {
                    return total;
                }

                @Override
                public DataSet batch(int step) {
                    return batches.get(step);
                }
            }, timing -> {
                long now = System.nanoTime();
                int s = timing.step();
                wall[s] = now - last[0];
                last[0] = now;
                compute[s] = timing.computeNanos();
                exposed[s] = timing.exchangeNanos();
                normSync[s] = timing.normSyncNanos();
                bytes[s] = timing.bytesSent();
            });
            // Every rank's median exposed exchange: the step waits for the slowest ring member.
            byte[][] everyRank = collective.allGather(ByteBuffer.allocate(Double.BYTES).putDouble(median(exposed)).array());
            double[] exposedPerRank = Arrays.stream(everyRank).mapToDouble(b -> ByteBuffer.wrap(b).getDouble()).toArray();
            if (rank == 0) {
                System.out.printf(Locale.ROOT, "%-12s %9.1f %11.1f %14.1f %14.1f %12.1f %12.1f  %s%n", mode.label(),
                        median(wall), median(compute), Arrays.stream(exposedPerRank).max().orElse(0), median(exposed),
                        median(normSync), median(bytes), Arrays.toString(Arrays.stream(exposedPerRank)
                                .map(v -> Math.round(v * 10) / 10.0).toArray()));
            }
        }
    }

    /** Median over the measured steps, divided by a million (nanoseconds to milliseconds, bytes to MB). */
    private double median(long[] nanos) {
        long[] measured = Arrays.copyOfRange(nanos, warmupSteps, nanos.length);
        Arrays.sort(measured);
        return measured[measured.length / 2] / 1e6;
    }
}
