package io.lockstep.worker.comm;

import io.aeron.Aeron;
import io.aeron.ChannelUriStringBuilder;
import io.aeron.ExclusivePublication;
import io.aeron.Subscription;
import org.agrona.CloseHelper;
import org.agrona.concurrent.SystemNanoClock;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** What peers see when a rank is missing, dies, disagrees, or when foreign traffic arrives. */
class CollectiveFailureTest {
    private static final long SHORT_TIMEOUT_MS = 2_000;

    private static CollectiveConfig shortDeadlines() {
        return InProcessGroup.testConfig().operationTimeoutMs(SHORT_TIMEOUT_MS).connectTimeoutMs(SHORT_TIMEOUT_MS)
                .heartbeatIntervalMs(50).build();
    }

    private static Throwable failureOf(Future<?> future) throws Exception {
        try {
            future.get(InProcessGroup.WAIT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            return e.getCause();
        }
        return fail("expected the call to fail");
    }

    @Test
    void aRankThatNeverArrivesIsNamedByEveryWaitingRank() throws Exception {
        try (InProcessGroup group = InProcessGroup.open(3, shortDeadlines())) {
            List<Future<?>> waiting = new ArrayList<>();
            for (int rank = 0; rank < 2; rank++) {
                AeronCollective collective = group.rank(rank);
                waiting.add(group.submit(rank, () -> {
                    collective.allReduce(new float[1000], ReduceOp.SUM);
                    return null;
                }));
            }
            for (int rank = 0; rank < 2; rank++) {
                CollectiveTimeoutException timeout = assertInstanceOf(CollectiveTimeoutException.class,
                        failureOf(waiting.get(rank)));
                assertEquals(List.of(2), timeout.silentRanks(), timeout.getMessage());
                assertTrue(timeout.getMessage().contains("ranks [2] never entered it"), timeout.getMessage());
            }
            // The failure breaks the collective: later calls say so instead of hanging.
            AeronCollective broken = group.rank(0);
            CollectiveException again = assertInstanceOf(CollectiveException.class,
                    failureOf(group.submit(0, () -> {
                        broken.barrier();
                        return null;
                    })));
            assertTrue(again.getMessage().contains("unusable after an earlier failure"), again.getMessage());
        }
    }

    @Test
    void aRankThatLeavesFailsItsPeersAtOnceNamingIt() throws Exception {
        CollectiveConfig config = InProcessGroup.testConfig().operationTimeoutMs(60_000).build();
        try (InProcessGroup group = InProcessGroup.open(3, config)) {
            group.run(c -> {
                c.allReduce(new float[100], ReduceOp.SUM);
                return null;
            });
            AeronCollective leaving = group.rank(2);
            group.submit(2, () -> {
                leaving.close();
                return null;
            }).get(InProcessGroup.WAIT_SECONDS, TimeUnit.SECONDS);
            long start = System.nanoTime();
            for (int rank = 0; rank < 2; rank++) {
                AeronCollective collective = group.rank(rank);
                PeerLostException lost = assertInstanceOf(PeerLostException.class, failureOf(group.submit(rank, () -> {
                    collective.allReduce(new float[100], ReduceOp.SUM);
                    return null;
                })));
                assertEquals(List.of(2), lost.lostRanks(), lost.getMessage());
            }
            assertTrue(System.nanoTime() - start < TimeUnit.MILLISECONDS.toNanos(config.operationTimeoutMs()),
                    "the peers failed before the deadline, as soon as rank 2's streams ended");
        }
    }

    @Test
    void connectNamesTheRankThatNeverConnects() throws Exception {
        CollectiveConfig config = shortDeadlines();
        List<CollectiveBinding> bindings = new ArrayList<>();
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            for (int rank = 0; rank < 3; rank++) {
                bindings.add(AeronCollective.bind(config, new GroupMember("absent", InProcessGroup.secret(7), 0, rank, 3)));
            }
            List<Endpoint> endpoints = bindings.stream().map(CollectiveBinding::localEndpoint).toList();
            List<Future<AeronCollective>> connecting = new ArrayList<>();
            for (int rank = 0; rank < 2; rank++) {
                CollectiveBinding binding = bindings.get(rank);
                connecting.add(threads.submit(() -> binding.connect(endpoints)));
            }
            for (Future<AeronCollective> future : connecting) {
                CollectiveTimeoutException timeout = assertInstanceOf(CollectiveTimeoutException.class, failureOf(future));
                assertEquals(List.of(2), timeout.silentRanks(), timeout.getMessage());
            }
        } finally {
            bindings.forEach(CollectiveBinding::close);
            threads.shutdownNow();
        }
    }

    @Test
    void ranksOfAnotherJobSecretOrStageAttemptNeverConnect() throws Exception {
        CollectiveConfig config = shortDeadlines();
        // Rank 1 differs from rank 0 in secret, then in stage attempt: the driver never matches their streams.
        GroupMember[][] pairs = {
                {new GroupMember("job", InProcessGroup.secret(1), 0, 0, 2), new GroupMember("job", InProcessGroup.secret(2), 0, 1, 2)},
                {new GroupMember("job", InProcessGroup.secret(1), 3, 0, 2), new GroupMember("job", InProcessGroup.secret(1), 4, 1, 2)},
        };
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            for (GroupMember[] pair : pairs) {
                List<CollectiveBinding> bindings = List.of(AeronCollective.bind(config, pair[0]),
                        AeronCollective.bind(config, pair[1]));
                List<Endpoint> endpoints = bindings.stream().map(CollectiveBinding::localEndpoint).toList();
                Future<AeronCollective> zero = threads.submit(() -> bindings.get(0).connect(endpoints));
                Future<AeronCollective> one = threads.submit(() -> bindings.get(1).connect(endpoints));
                assertEquals(List.of(1), assertInstanceOf(CollectiveTimeoutException.class, failureOf(zero)).silentRanks());
                assertEquals(List.of(0), assertInstanceOf(CollectiveTimeoutException.class, failureOf(one)).silentRanks());
                bindings.forEach(CollectiveBinding::close);
            }
        } finally {
            threads.shutdownNow();
        }
    }

    @Test
    void ranksThatDisagreeOnTheOperationFailWithTheReason() throws Exception {
        try (InProcessGroup group = InProcessGroup.open(2, shortDeadlines())) {
            AeronCollective zero = group.rank(0);
            AeronCollective one = group.rank(1);
            Future<?> reducing = group.submit(0, () -> {
                zero.allReduce(new float[10], ReduceOp.SUM);
                return null;
            });
            Future<?> broadcasting = group.submit(1, () -> {
                one.broadcast(new float[10], 0, 10, 0);
                return null;
            });
            for (Future<?> future : List.of(reducing, broadcasting)) {
                Throwable failure = failureOf(future);
                assertInstanceOf(CollectiveException.class, failure);
                assertTrue(failure.getMessage().contains("must call the same collectives in the same order"),
                        failure.getMessage());
            }
        }
        try (InProcessGroup group = InProcessGroup.open(2, shortDeadlines())) {
            List<Future<?>> calls = new ArrayList<>();
            for (int rank = 0; rank < 2; rank++) {
                AeronCollective collective = group.rank(rank);
                int length = 100 + rank;
                calls.add(group.submit(rank, () -> {
                    collective.allReduce(new float[length], ReduceOp.SUM);
                    return null;
                }));
            }
            for (Future<?> future : calls) {
                Throwable failure = failureOf(future);
                assertTrue(failure.getMessage().contains("must pass the same length"), failure.getMessage());
            }
        }
    }

    @Test
    void anInterruptEndsTheOperationAndKeepsTheFlag() throws Exception {
        // The system clock, counting reads per thread: rank 0 reading it means its operation loop runs.
        DeterministicTimeoutTest.ManualClock reads = new DeterministicTimeoutTest.ManualClock(System::nanoTime);
        try (InProcessGroup group = InProcessGroup.open(2, InProcessGroup.testConfig().operationTimeoutMs(60_000)
                .build(), "interrupted", 5, 0, reads)) {
            AeronCollective zero = group.rank(0);
            AtomicReference<Thread> owner = new AtomicReference<>();
            AtomicBoolean flagKept = new AtomicBoolean();
            Future<?> waiting = group.submit(0, () -> {
                owner.set(Thread.currentThread());
                try {
                    zero.allReduce(new float[10], ReduceOp.SUM);
                } finally {
                    flagKept.set(Thread.interrupted());
                }
                return null;
            });
            reads.awaitReadsBy(List.of("rank-0"), 100);
            owner.get().interrupt();
            Throwable failure = failureOf(waiting);
            assertTrue(failure.getMessage().contains("interrupted"), failure.getMessage());
            assertTrue(flagKept.get(), "the interrupt flag is still set for the caller");
        }
    }

    /**
     * An impostor that knows the secret (so the driver lets its streams through) but stamps its frames
     * with another stage attempt or job: rank 0 rejects and counts every frame, never mixes them into
     * its buffer, and finally names rank 1, which in its eyes never arrived.
     */
    @Test
    void framesOfAnotherAttemptOrJobAreRejectedCountedAndNotMixedIn() throws Exception {
        // Wire security off: this checks the header checks behind it (with it on, the frames would not even
        // get that far, see aFrameAlteredOnTheWayIsRefusedBeforeAnyOfItIsReduced).
        CollectiveConfig config = InProcessGroup.testConfig().transport(TransportMode.UDP)
                .operationTimeoutMs(SHORT_TIMEOUT_MS).heartbeatIntervalMs(50).wireSecurity(WireSecurity.OFF).build();
        String jobId = "guarded";
        JobSecret secret = InProcessGroup.secret(99);
        long attempt = 5;
        CollectiveBinding binding = AeronCollective.bind(config, new GroupMember(jobId, secret, attempt, 0, 2));
        ExecutorService rankZero = Executors.newSingleThreadExecutor();
        try (Impostor impostor = new Impostor(config, secret, jobId, attempt, binding)) {
            AeronCollective zero = rankZero.submit(() -> binding.connect(impostor.endpoints()))
                    .get(InProcessGroup.WAIT_SECONDS, TimeUnit.SECONDS);
            assertTrue(impostor.data.imageCount() == 1 && impostor.control.imageCount() == 1,
                    "rank 0 connected to the impostor");

            float[] buffer = {1, 2, 3, 4};
            Future<?> reducing = rankZero.submit(() -> {
                zero.allReduce(buffer, ReduceOp.SUM);
                return null;
            });
            long jobHash = LinkIds.jobHash(jobId);
            long[][] identities = {{jobHash, attempt - 1}, {LinkIds.jobHash("another job"), attempt}};
            for (long[] identity : identities) {
                offer(impostor.controlOut,
                        frame(identity[0], identity[1], FrameHeader.TYPE_CONTROL, Wire.ENCODING_NONE, 0));
                // Reduce-scatter step 0 of 2 ranks: rank 0 expects one segment (2 values) from rank 1.
                offer(impostor.dataOut, frame(identity[0], identity[1], FrameHeader.TYPE_DATA, Wire.ENCODING_F32, 2));
            }
            CollectiveTimeoutException timeout = assertInstanceOf(CollectiveTimeoutException.class, failureOf(reducing));
            assertEquals(List.of(1), timeout.silentRanks(), timeout.getMessage());
            assertEquals(4, zero.stats().rejectedFrames(), "two control and two data frames rejected");
            assertArrayEquals(new float[]{1, 2, 3, 4}, buffer, "nothing of the foreign frames was added");
            rankZero.submit(zero::close).get(InProcessGroup.WAIT_SECONDS, TimeUnit.SECONDS);
        } finally {
            binding.close();
            rankZero.shutdownNow();
        }
    }

    /**
     * The impostor holds the job secret and seals a genuine frame under the link's own key, but one bit of
     * its payload is flipped on the way: rank 0 verifies the frame where Aeron delivers it, refuses it and
     * counts it, and nothing of it reaches its buffer. The same frame unaltered, sent next, is accepted and
     * summed in. Once with a frame that fits one Aeron fragment (verified in Aeron's log buffer) and once
     * with one Aeron reassembles from many fragments (verified in the assembler's buffer).
     */
    @ParameterizedTest
    @ValueSource(ints = {2, 8192})
    void aFrameAlteredOnTheWayIsRefusedBeforeAnyOfItIsReduced(int segmentValues) throws Exception {
        CollectiveConfig config = InProcessGroup.testConfig().transport(TransportMode.UDP).chunkBytes(32 * 1024)
                .operationTimeoutMs(SHORT_TIMEOUT_MS).heartbeatIntervalMs(50)
                .wireSecurity(WireSecurity.AUTHENTICATE).build();
        String jobId = "sealed";
        JobSecret secret = InProcessGroup.secret(98);
        long attempt = 2;
        CollectiveBinding binding = AeronCollective.bind(config, new GroupMember(jobId, secret, attempt, 0, 2));
        ExecutorService rankZero = Executors.newSingleThreadExecutor();
        try (Impostor impostor = new Impostor(config, secret, jobId, attempt, binding)) {
            AeronCollective zero = rankZero.submit(() -> binding.connect(impostor.endpoints()))
                    .get(InProcessGroup.WAIT_SECONDS, TimeUnit.SECONDS);
            int length = 2 * segmentValues;
            float[] buffer = new float[length];
            for (int i = 0; i < length; i++) {
                buffer[i] = i;
            }
            Future<?> reducing = rankZero.submit(() -> {
                zero.allReduce(buffer, ReduceOp.SUM);
                return null;
            });

            // Reduce-scatter step 0 of 2 ranks: rank 0 expects from rank 1 the segment after its own position
            // in the ring (the order follows the drivers' random ids), its values counted from the segment's
            // start.
            int received = CollectiveBinding.ringOrder(impostor.endpoints())[0] == 0 ? 1 : 0;
            int frameLength = FrameHeader.LENGTH + segmentValues * Float.BYTES;
            UnsafeBuffer genuine = new UnsafeBuffer(ByteBuffer.allocateDirect(frameLength + FrameSeal.TAG_LENGTH));
            new FrameHeader().wrap(genuine, 0).writeIdentity(FrameHeader.TYPE_DATA, Wire.OP_ALL_REDUCE_SUM,
                    Wire.ENCODING_F32, 1, 0, LinkIds.jobHash(jobId), attempt, 1, 0)
                    .writeData(0, 0, 0, length, segmentValues);
            for (int i = 0; i < segmentValues; i++) {
                genuine.putFloat(FrameHeader.LENGTH + i * Float.BYTES, 1000f);
            }
            FrameSeal.Sealer sealer = new FrameSeal.Sealer(WireSecurity.AUTHENTICATE, FrameSeal.linkKey(secret, jobId,
                    attempt, WireSecurity.AUTHENTICATE, Wire.LINK_DATA, impostor.endpoint, binding.localEndpoint()),
                    frameLength, "rank 0");
            int sealedLength = sealer.seal(genuine, 0, frameLength);
            UnsafeBuffer altered = new UnsafeBuffer(ByteBuffer.allocateDirect(sealedLength));
            altered.putBytes(0, genuine, 0, sealedLength);
            // The exponent's lowest bit of the segment's last value, in the frame's last fragment: accepted,
            // it would add 4000 instead of 1000 there.
            int flipped = FrameHeader.LENGTH + segmentValues * Float.BYTES - 1;
            altered.putByte(flipped, (byte) (altered.getByte(flipped) ^ 0x01));
            offer(impostor.dataOut, altered, sealedLength);
            offer(impostor.dataOut, genuine, sealedLength);

            try {
                CollectiveTimeoutException timeout =
                        assertInstanceOf(CollectiveTimeoutException.class, failureOf(reducing));
                assertTrue(timeout.getMessage().contains("The link from rank 1 delivered 1 frames that failed "
                        + "authentication"), timeout.getMessage());
                assertEquals(1, zero.stats().unauthenticFrames(), zero.stats().toString());
                assertEquals(1, zero.stats().rejectedFrames(), zero.stats().toString());
                float[] expected = new float[length];
                for (int i = 0; i < length; i++) {
                    expected[i] = i + (i / segmentValues == received ? 1000f : 0f);
                }
                assertArrayEquals(expected, buffer, "the genuine frame summed in once, nothing of the altered one");
            } finally {
                rankZero.submit(zero::close).get(InProcessGroup.WAIT_SECONDS, TimeUnit.SECONDS);
            }
        } finally {
            binding.close();
            rankZero.shutdownNow();
        }
    }

    /**
     * Rank 1 of a two-rank group, played through its own Aeron client on rank 0's media driver with the
     * session and stream ids the job secret derives, so the driver lets its streams through.
     */
    private static final class Impostor implements AutoCloseable {
        final Subscription control;
        final Subscription data;
        final ExclusivePublication controlOut;
        final ExclusivePublication dataOut;
        final Endpoint endpoint;
        private final Endpoint victim;
        private final MediaDrivers.Handle driver;
        private final Aeron aeron;

        Impostor(CollectiveConfig config, JobSecret secret, String jobId, long attempt, CollectiveBinding victim) {
            LinkIds ids = new LinkIds(secret.idSeed(), LinkIds.jobHash(jobId), attempt, 2);
            this.victim = victim.localEndpoint();
            driver = MediaDrivers.acquire(config);
            try {
                aeron = Aeron.connect(new Aeron.Context().aeronDirectoryName(driver.directory()));
            } catch (RuntimeException e) {
                driver.close();
                throw e;
            }
            long tag = aeron.nextCorrelationId();
            control = aeron.addSubscription(new ChannelUriStringBuilder().media("udp")
                    .endpoint("127.0.0.1:0").tags(Long.toString(tag))
                    .sessionId(ids.sessionId(Wire.LINK_CONTROL, 0, 1)).build(), ids.streamId(Wire.LINK_CONTROL, 1));
            data = aeron.addSubscription(new ChannelUriStringBuilder().media("udp")
                    .tags(Long.toString(tag)).sessionId(ids.sessionId(Wire.LINK_DATA, 0, 1)).build(),
                    ids.streamId(Wire.LINK_DATA, 1));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(InProcessGroup.WAIT_SECONDS);
            while (control.localSocketAddresses().isEmpty()) {
                if (System.nanoTime() - deadline > 0) {
                    close();
                    fail("the impostor's control subscription got no port");
                }
                Thread.onSpinWait();
            }
            String address = control.localSocketAddresses().get(0);
            endpoint = new Endpoint(1, "127.0.0.1", Integer.parseInt(address.substring(address.lastIndexOf(':') + 1)),
                    "impostor", 1);
            String target = this.victim.socketAddress();
            controlOut = aeron.addExclusivePublication(new ChannelUriStringBuilder()
                    .media("udp").endpoint(target).sessionId(ids.sessionId(Wire.LINK_CONTROL, 1, 0)).build(),
                    ids.streamId(Wire.LINK_CONTROL, 0));
            dataOut = aeron.addExclusivePublication(new ChannelUriStringBuilder()
                    .media("udp").endpoint(target).sessionId(ids.sessionId(Wire.LINK_DATA, 1, 0))
                    .termLength(config.termLengthBytes()).build(), ids.streamId(Wire.LINK_DATA, 0));
        }

        /** The group's endpoints as rank 0 is told them. */
        List<Endpoint> endpoints() {
            return List.of(victim, endpoint);
        }

        @Override
        public void close() {
            CloseHelper.closeAll(aeron, driver);
        }
    }

    private static UnsafeBuffer frame(long jobHash, long attempt, byte frameType, byte encoding, int values) {
        UnsafeBuffer buffer = new UnsafeBuffer(ByteBuffer.allocateDirect(FrameHeader.LENGTH + values * Float.BYTES));
        FrameHeader header = new FrameHeader().wrap(buffer, 0);
        header.writeIdentity(frameType, Wire.OP_ALL_REDUCE_SUM, encoding, 1, 0, jobHash, attempt, 1, 0);
        if (frameType == FrameHeader.TYPE_CONTROL) {
            header.writeControl(Wire.PHASE_ARRIVED, Wire.NO_RANK, Wire.NO_RANK, 4);
        } else {
            header.writeData(0, 0, 0, 4, values);
            for (int i = 0; i < values; i++) {
                buffer.putFloat(FrameHeader.LENGTH + i * Float.BYTES, 1000f);
            }
        }
        return buffer;
    }

    private static void offer(ExclusivePublication publication, UnsafeBuffer frame) {
        offer(publication, frame, frame.capacity());
    }

    private static void offer(ExclusivePublication publication, UnsafeBuffer frame, int length) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (publication.offer(frame, 0, length) < 0) {
            if (System.nanoTime() > deadline) {
                fail("could not publish the foreign frame: " + publication.channel());
            }
            Thread.onSpinWait();
        }
    }

    /** A publication with a session id the group does not derive never reaches a rank (the driver drops it). */
    @Test
    void aStrayPublicationNeverConnectsAndDoesNotDisturbTheGroup() throws Exception {
        CollectiveConfig config = InProcessGroup.testConfig().transport(TransportMode.UDP).build();
        try (InProcessGroup group = InProcessGroup.open(2, config, "job", 1234, 0, SystemNanoClock.INSTANCE);
             MediaDrivers.Handle driver = MediaDrivers.acquire(config);
             Aeron stranger = Aeron.connect(new Aeron.Context().aeronDirectoryName(driver.directory()))) {
            LinkIds otherJob = new LinkIds(4321, LinkIds.jobHash("job"), 0, 2);
            LinkIds sameJob = new LinkIds(1234, LinkIds.jobHash("job"), 0, 2);
            // Right stream, wrong session: what a job with another secret would send.
            ExclusivePublication stray = stranger.addExclusivePublication(new ChannelUriStringBuilder().media("udp")
                    .endpoint(group.rank(0).localEndpoint().socketAddress())
                    .sessionId(otherJob.sessionId(Wire.LINK_DATA, 1, 0)).build(), sameJob.streamId(Wire.LINK_DATA, 0));
            UnsafeBuffer junk = frame(LinkIds.jobHash("job"), 0, FrameHeader.TYPE_DATA, Wire.ENCODING_F32, 2);
            AtomicBoolean running = new AtomicBoolean(true);
            AtomicBoolean everConnected = new AtomicBoolean();
            Thread spammer = new Thread(() -> {
                while (running.get()) {
                    stray.offer(junk);
                    everConnected.compareAndSet(false, stray.isConnected());
                    Thread.onSpinWait();
                }
            });
            spammer.start();
            try {
                for (int round = 0; round < 20; round++) {
                    List<float[]> results = group.run(c -> {
                        float[] data = {c.rank() + 1, 10, 100};
                        c.allReduce(data, ReduceOp.SUM);
                        return data;
                    });
                    for (float[] result : results) {
                        assertArrayEquals(new float[]{3, 20, 200}, result);
                    }
                }
            } finally {
                running.set(false);
                spammer.join();
            }
            assertFalse(everConnected.get(), "the stray publication was never accepted by a subscriber");
            assertEquals(0, group.rank(0).stats().rejectedFrames(), "its frames never even reached rank 0");
        }
    }
}
