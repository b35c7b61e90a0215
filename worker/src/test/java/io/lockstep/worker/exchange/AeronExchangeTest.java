package io.lockstep.worker.exchange;

import io.lockstep.worker.comm.AeronCollective;
import io.lockstep.worker.comm.CollectiveBinding;
import io.lockstep.worker.comm.CollectiveConfig;
import io.lockstep.worker.comm.Endpoint;
import io.lockstep.worker.comm.GroupMember;
import io.lockstep.worker.comm.JobSecret;
import io.lockstep.worker.train.GradientExchange;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.learning.config.Nesterovs;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** The exchange strategies over the real Aeron collective: two ranks on loopback UDP in this JVM. */
class AeronExchangeTest {
    private static final int REPLICAS = 2;
    private static final long WAIT_SECONDS = 120;

    @FunctionalInterface
    private interface RankBody {
        float[][] run(AeronCollective collective) throws Exception;
    }

    /** Binds, connects and runs {@code body} on one thread per rank (every call of a rank on its own thread). */
    private static List<float[][]> runOverAeron(String jobId, RankBody body) throws Exception {
        CollectiveConfig config = CollectiveConfig.builder()
                .bindAddress("127.0.0.1")
                .termLengthBytes(1024 * 1024)
                .chunkBytes(4096)
                .connectTimeoutMs(20_000)
                .operationTimeoutMs(30_000)
                .closeLingerMs(2_000)
                .build();
        List<ExecutorService> threads = new ArrayList<>();
        List<CollectiveBinding> bindings = new ArrayList<>();
        List<AeronCollective> collectives = new ArrayList<>();
        try {
            for (int rank = 0; rank < REPLICAS; rank++) {
                int r = rank;
                threads.add(Executors.newSingleThreadExecutor(task -> new Thread(task, "aeron-exchange-rank-" + r)));
                bindings.add(AeronCollective.bind(config, new GroupMember(jobId, JobSecret.derive(new byte[]{7}, jobId), 0L, rank, REPLICAS)));
            }
            List<Endpoint> endpoints = bindings.stream().map(CollectiveBinding::localEndpoint).toList();
            List<Future<AeronCollective>> connecting = new ArrayList<>();
            for (int rank = 0; rank < REPLICAS; rank++) {
                CollectiveBinding binding = bindings.get(rank);
                connecting.add(threads.get(rank).submit(() -> binding.connect(endpoints)));
            }
            for (Future<AeronCollective> future : connecting) {
                collectives.add(future.get(WAIT_SECONDS, TimeUnit.SECONDS));
            }
            List<Future<float[][]>> running = new ArrayList<>();
            for (int rank = 0; rank < REPLICAS; rank++) {
                AeronCollective collective = collectives.get(rank);
                running.add(threads.get(rank).submit(() -> body.run(collective)));
            }
            List<float[][]> results = new ArrayList<>();
            for (Future<float[][]> future : running) {
                results.add(future.get(WAIT_SECONDS, TimeUnit.SECONDS));
            }
            return results;
        } finally {
            List<Future<?>> closing = new ArrayList<>();
            for (int rank = 0; rank < collectives.size(); rank++) {
                AeronCollective collective = collectives.get(rank);
                closing.add(threads.get(rank).submit(collective::close));
            }
            for (Future<?> future : closing) {
                future.get(WAIT_SECONDS, TimeUnit.SECONDS);
            }
            if (collectives.isEmpty()) {
                bindings.forEach(CollectiveBinding::close);
            }
            threads.forEach(ExecutorService::shutdownNow);
        }
    }

    private static float[][] train(AeronCollective collective, GradientExchange exchange, int steps) throws Exception {
        ComputationGraph graph = ReplicaLoop.convWithBatchNorm(new Nesterovs(0.1, 0.9));
        float[][] snapshots = new float[steps][];
        ReplicaLoop.train(graph, collective, exchange, steps,
                (r, s) -> ReplicaLoop.batch(r, s, 8, ReplicaLoop.CLASSES, 1, 8, 8),
                ParameterAveragingExchangeTest.afterEachStep((step, g) ->
                        snapshots[step] = ReplicaLoop.paramsAndUpdaterState(g)));
        return snapshots;
    }

    @Test
    void thresholdKeepsReplicasIdenticalOverAeron() throws Exception {
        int steps = 6;
        List<float[][]> results = runOverAeron("threshold-exchange",
                c -> train(c, new ThresholdExchange(c, ExchangeSettings.defaults()), steps));
        for (int step = 0; step < steps; step++) {
            assertArrayEquals(results.get(0)[step], results.get(1)[step], "after step " + step);
        }
    }

    @Test
    void averagingRoundsMakeReplicasIdenticalOverAeron() throws Exception {
        int steps = 4;
        List<float[][]> results = runOverAeron("average-exchange", c -> train(c,
                new ParameterAveragingExchange(c, ExchangeSettings.defaults().withAverageEverySteps(2)), steps));
        for (int step = 0; step < steps; step++) {
            if (step % 2 == 1) {
                assertArrayEquals(results.get(0)[step], results.get(1)[step], "after the round at step " + step);
            } else {
                assertFalse(Arrays.equals(results.get(0)[step], results.get(1)[step]), "local step " + step);
            }
        }
    }
}
