package io.lockstep.worker.train;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PrefetcherTest {

    private static DataSet batchOf(int step) {
        return new DataSet(Nd4j.scalar((float) step).reshape(1, 1), Nd4j.ones(1, 1));
    }

    @Test
    void deliversEveryBatchInOrderAndPreparesAheadOfTheConsumer() throws Exception {
        CountDownLatch secondPrepared = new CountDownLatch(2);
        BatchSource source = new BatchSource() {
            @Override
            public int steps() {
                return 5;
            }

            @Override
            public DataSet batch(int step) {
                secondPrepared.countDown();
                return batchOf(step);
            }
        };
        try (Prefetcher prefetcher = new Prefetcher(source, 2, "test-prefetch")) {
            assertTrue(secondPrepared.await(10, TimeUnit.SECONDS), "two batches prepared before the first was taken");
            for (int step = 0; step < 5; step++) {
                assertEquals(step, prefetcher.next(10_000).getFeatures().getFloat(0), 0);
            }
            assertThrows(IllegalStateException.class, () -> prefetcher.next(10));
        }
    }

    @Test
    void aDecodingFailureReachesTheTrainingThreadWithItsCause() {
        BatchSource failing = new BatchSource() {
            @Override
            public int steps() {
                return 3;
            }

            @Override
            public DataSet batch(int step) {
                if (step == 1) {
                    throw new IllegalArgumentException("corrupt image shirt/17.png");
                }
                return batchOf(step);
            }
        };
        try (Prefetcher prefetcher = new Prefetcher(failing, 1, "test-prefetch")) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> {
                prefetcher.next(10_000);
                prefetcher.next(10_000);
            });
            assertTrue(e.getMessage().contains("corrupt image shirt/17.png"), e.getMessage());
        }
    }

    @Test
    void aStalledSourceFailsAtTheDeadline() {
        CountDownLatch never = new CountDownLatch(1);
        BatchSource stalled = new BatchSource() {
            @Override
            public int steps() {
                return 1;
            }

            @Override
            public DataSet batch(int step) {
                try {
                    never.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return batchOf(step);
            }
        };
        try (Prefetcher prefetcher = new Prefetcher(stalled, 1, "test-prefetch")) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> prefetcher.next(200));
            assertTrue(e.getMessage().contains("200 ms"), e.getMessage());
        }
    }
}
