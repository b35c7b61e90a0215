package io.lockstep.worker.train;

import io.lockstep.worker.device.DeviceBinding;
import org.nd4j.linalg.dataset.DataSet;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Prepares the next batches on a daemon thread while the training thread computes, so decoding and
 * augmentation overlap with forward/backward. The producer thread owns the {@link BatchSource}; the
 * training thread only calls {@link #next(long)}. A failure on the producer side is rethrown to the
 * training thread on its next call, never lost. The producer runs ND4J ops (batch assembly) with the
 * {@link ComputeThreads} count of the thread that created the prefetcher, so it never spawns a wider
 * OpenMP team than its replica was given.
 */
public final class Prefetcher implements AutoCloseable {
    private static final Object END = new Object();

    private final BlockingQueue<Object> ready;
    private final Thread producer;
    private final int steps;
    private int consumed;
    private volatile boolean closed;

    public Prefetcher(BatchSource source, int depth, String threadName) {
        if (depth < 1) {
            throw new IllegalArgumentException("prefetch depth must be at least 1, got " + depth);
        }
        this.ready = new ArrayBlockingQueue<>(depth);
        this.steps = source.steps();
        int threads = ComputeThreads.inForce();
        // Batches are ND4J arrays: build them on the replica's device, not on the default one.
        DeviceBinding device = DeviceBinding.ofCurrentThread();
        this.producer = new Thread(() -> {
            device.bindCurrentThread();
            ComputeThreads.bind(threads);
            produce(source);
        }, threadName);
        producer.setDaemon(true);
        producer.start();
    }

    private void produce(BatchSource source) {
        try {
            for (int step = 0; step < steps && !closed; step++) {
                ready.put(source.batch(step));
            }
            ready.put(END);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException | Error e) {
            // Hand the failure to the training thread; there is nothing else to do on this thread.
            ready.clear();
            ready.offer(e);
        }
    }

    /**
     * The next batch, waiting at most {@code timeoutMs} for the producer.
     *
     * @throws IllegalStateException if all steps were consumed, the producer failed, or the deadline passed
     */
    public DataSet next(long timeoutMs) throws InterruptedException {
        if (consumed >= steps) {
            throw new IllegalStateException("all " + steps + " batches of this epoch were already consumed");
        }
        Object item = ready.poll(timeoutMs, TimeUnit.MILLISECONDS);
        if (item == null) {
            throw new IllegalStateException("no batch prepared within " + timeoutMs + " ms for step " + consumed
                    + " (decoding is slower than the deadline; raise --data-timeout-ms or check the data source)");
        }
        if (item instanceof Throwable t) {
            throw new IllegalStateException("preparing batch " + consumed + " failed: " + t.getMessage(), t);
        }
        if (item == END) {
            throw new IllegalStateException("batch source ended after " + consumed + " of " + steps + " steps");
        }
        consumed++;
        return (DataSet) item;
    }

    @Override
    public void close() {
        closed = true;
        producer.interrupt();
        ready.clear();
    }
}
