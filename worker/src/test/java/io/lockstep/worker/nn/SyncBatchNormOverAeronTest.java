package io.lockstep.worker.nn;

import io.lockstep.worker.comm.AeronCollective;
import io.lockstep.worker.comm.CollectiveBinding;
import io.lockstep.worker.comm.CollectiveConfig;
import io.lockstep.worker.comm.Endpoint;
import io.lockstep.worker.comm.GroupMember;
import io.lockstep.worker.comm.JobSecret;
import io.lockstep.worker.nn.SyncBatchNormalizationLayerTest.Case;
import io.lockstep.worker.nn.SyncBatchNormalizationLayerTest.Layout;
import io.lockstep.worker.nn.SyncBatchNormalizationLayerTest.RankResult;
import io.lockstep.worker.testing.RankThreads;
import io.lockstep.worker.testing.ThreadCollectives;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The layer-level equivalence of {@link SyncBatchNormalizationLayerTest}, over the real Aeron ring
 * collective (loopback, 3 ranks in this JVM, one with an empty batch).
 */
class SyncBatchNormOverAeronTest {
    private static final AtomicInteger GROUPS = new AtomicInteger();

    private DataType previousDefault;
    private DataType previousFloatingPoint;

    @BeforeEach
    void rememberDefaults() {
        previousDefault = Nd4j.dataType();
        previousFloatingPoint = Nd4j.defaultFloatingPointType();
    }

    @AfterEach
    void restoreDefaults() {
        Nd4j.setDefaultDataTypes(previousDefault, previousFloatingPoint);
    }

    @Test
    void floatConvolutionWithAnEmptyReplica() throws Exception {
        SyncBatchNormalizationLayerTest.assertMatchesPlainBatchNorm(
                new Case("aeron", DataType.FLOAT, Layout.NCHW, true, true, true, new int[] {3, 0, 2}),
                SyncBatchNormOverAeronTest::overAeron);
    }

    @Test
    void doubleDenseUnequalBatches() throws Exception {
        SyncBatchNormalizationLayerTest.assertMatchesPlainBatchNorm(
                new Case("aeron", DataType.DOUBLE, Layout.NC, true, false, false, new int[] {1, 4, 2}),
                SyncBatchNormOverAeronTest::overAeron);
    }

    /** Binds every rank on loopback, then connects, runs and closes each rank on its own thread. */
    private static List<RankResult> overAeron(int ranks, ThreadCollectives.RankBody<RankResult> body) throws Exception {
        CollectiveConfig config = CollectiveConfig.builder()
                .bindAddress("127.0.0.1")
                .termLengthBytes(1024 * 1024)
                .chunkBytes(4096)
                .connectTimeoutMs(20_000)
                .operationTimeoutMs(30_000)
                .closeLingerMs(200)
                .build();
        String job = "sync-bn-test-" + GROUPS.incrementAndGet();
        List<CollectiveBinding> bindings = new ArrayList<>();
        try {
            for (int rank = 0; rank < ranks; rank++) {
                bindings.add(AeronCollective.bind(config, new GroupMember(job, JobSecret.derive(new byte[]{0x5e}, job), 0L, rank, ranks)));
            }
            List<Endpoint> endpoints = bindings.stream().map(CollectiveBinding::localEndpoint).toList();
            return RankThreads.runAll(ranks, 120_000, rank -> {
                try (AeronCollective collective = bindings.get(rank).connect(endpoints)) {
                    return body.run(collective);
                }
            });
        } finally {
            bindings.forEach(CollectiveBinding::close);
        }
    }
}
