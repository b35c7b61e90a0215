package io.lockstep.worker.train;

import io.lockstep.models.Normalization;
import io.lockstep.worker.comm.AsyncCollective;
import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.CollectiveConfig;
import io.lockstep.worker.comm.JobSecret;
import io.lockstep.worker.comm.ThreadRanks;
import org.agrona.concurrent.SystemNanoClock;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Future;

/**
 * Exposed exchange time per step with the gradient exchanged after backward as one buffer ({@code off}),
 * in buckets on the communication agent after backward ({@code buckets}), and in buckets overlapped with
 * backward ({@code on}): 2 replicas as threads of this JVM over Aeron IPC, the same model, data and
 * seed. "Exposed" is what the training thread waits in the exchange; compute is the rest of the step.
 * Prints medians over the measured steps (the first {@value #WARMUP} are dropped); asserts nothing.
 * <pre>
 * mvn -B -o -q -pl worker -am test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.cp -Dmdep.includeScope=test
 * OMP_NUM_THREADS=1 java $(lockstep JVM flags) -cp worker/target/test-classes:worker/target/classes:models/target/classes:$(cat worker/target/bench.cp) \
 *     io.lockstep.worker.train.OverlapBenchmark [MODEL] [SIDE] [BATCH] [BUCKET_MB] [STEPS]
 * </pre>
 */
public final class OverlapBenchmark {
    private static final int WARMUP = 3;
    private static final int REPLICAS = 2;

    private OverlapBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        String model = args.length > 0 ? args[0] : "resnet20";
        int side = args.length > 1 ? Integer.parseInt(args[1]) : 28;
        int batch = args.length > 2 ? Integer.parseInt(args[2]) : 32;
        double bucketMb = args.length > 3 ? Double.parseDouble(args[3]) : 0.25;
        int steps = args.length > 4 ? Integer.parseInt(args[4]) : 15;
        ModelRecipe recipe = new ModelRecipe(model, 10, 1, side, side, Normalization.BATCH, 7L, Optimizer.NESTEROV, 0.01, 1e-4);
        System.out.printf("model %s %dx%d, %d parameters, %d replicas x batch %d, bucket %.2f MB, %d steps (%d warm-up)%n",
                model, side, side, recipe.build().numParams(), REPLICAS, batch, bucketMb, steps, WARMUP);
        List<DataSet> global = new ArrayList<>();
        Nd4j.getRandom().setSeed(1);
        for (int s = 0; s < steps; s++) {
            INDArray features = Nd4j.rand(DataType.FLOAT, REPLICAS * batch, 1, side, side);
            INDArray labels = Nd4j.zeros(DataType.FLOAT, REPLICAS * batch, 10);
            for (int i = 0; i < REPLICAS * batch; i++) {
                labels.putScalar(i, (i * 3 + s) % 10, 1f);
            }
            global.add(new DataSet(features, labels));
        }
        // Alternate the modes so drifting machine load hits each of them alike.
        for (int round = 0; round < 2; round++) {
            for (String mode : List.of("off", "buckets", "on")) {
                run(recipe, global, batch, (long) (bucketMb * 1024 * 1024), mode, steps);
            }
        }
    }

    private static void run(ModelRecipe recipe, List<DataSet> global, int batch, long bucketBytes, String mode, int steps)
            throws Exception {
        CollectiveConfig config = CollectiveConfig.builder().bindAddress("127.0.0.1").operationTimeoutMs(120_000)
                .connectTimeoutMs(60_000).build();
        JobSecret secret = JobSecret.derive("bench".getBytes(StandardCharsets.UTF_8), "overlap");
        long[][] exposed = new long[REPLICAS][steps];
        long[][] compute = new long[REPLICAS][steps];
        long[][] wall = new long[REPLICAS][steps];
        try (ThreadRanks ranks = ThreadRanks.open(REPLICAS, config, "overlap-bench-" + mode, secret, 0,
                SystemNanoClock.INSTANCE, 300_000, "bench-rank-")) {
            List<Future<Void>> futures = ranks.start(aeron -> {
                Collective collective = mode.equals("off") ? aeron : new AsyncCollective(aeron, 300_000, "bench-comm");
                GradientExchange exchange = mode.equals("off") ? new AllReduceExchange(collective)
                        : new BucketedAllReduceExchange((AsyncCollective) collective, bucketBytes, mode.equals("on"), Set.of());
                ReplicaTrainer trainer = new ReplicaTrainer(recipe.build(), collective, exchange,
                        new LearningRateSchedule(0.01, LearningRateSchedule.Scaling.NONE, 1, 0, steps), 0, 60_000);
                int rank = collective.rank();
                long[] last = {System.nanoTime()};
                try {
                    trainer.trainEpoch(0, ReplicaSlices.source(global, rank, batch), timing -> {
                        long now = System.nanoTime();
                        exposed[rank][timing.step()] = timing.exchangeNanos();
                        compute[rank][timing.step()] = timing.computeNanos();
                        wall[rank][timing.step()] = now - last[0];
                        last[0] = now;
                    });
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException(e);
                }
                if (collective instanceof AsyncCollective async) {
                    async.close();
                }
                return null;
            });
            for (Future<Void> future : futures) {
                ranks.await(future);
            }
        }
        System.out.printf("%-8s step %7.1f ms   compute %7.1f ms   exposed exchange %6.2f ms (rank 0), %6.2f ms (rank 1)%n",
                mode, median(wall[0], steps), median(compute[0], steps), median(exposed[0], steps), median(exposed[1], steps));
    }

    private static double median(long[] nanos, int steps) {
        long[] measured = Arrays.copyOfRange(nanos, WARMUP, steps);
        Arrays.sort(measured);
        return measured[measured.length / 2] / 1e6;
    }
}
