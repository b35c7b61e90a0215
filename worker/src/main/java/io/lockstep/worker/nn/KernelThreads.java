package io.lockstep.worker.nn;

import io.lockstep.worker.train.ComputeThreads;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntConsumer;

/**
 * Helper threads for the Java kernels ({@link BatchNormKernels}), which run between ND4J ops.
 *
 * <p>Why threads of their own: a replica's ND4J ops run on OpenMP threads, to which Java cannot hand
 * work. A kernel call splits into at most the replica's thread count in force and runs while that
 * replica's ND4J ops do not, so a replica still keeps at most its count of cores busy. The pool holds
 * one thread fewer than the process thread limit (the caller always works too) and its idle threads
 * exit, so it costs nothing where no BatchNorm runs. The caller claims parts as the helpers do: a part
 * that no helper has started (all busy with another replica's parts) is run by the caller itself, so a
 * call never waits on a queue, only on parts already running.
 */
final class KernelThreads {
    /** A pass over one tensor takes milliseconds; this only bounds the wait if a helper thread hangs. */
    private static final long DEADLINE_SECONDS = 600;
    private static final ThreadPoolExecutor POOL = createPool();

    private KernelThreads() {
    }

    /** Runs {@code part.accept(i)} for every i in [0, parts), on the calling thread and helper threads; returns when all are done. */
    static void run(int parts, IntConsumer part) {
        AtomicInteger next = new AtomicInteger();
        CountDownLatch done = new CountDownLatch(parts);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Runnable worker = () -> {
            for (int i = next.getAndIncrement(); i < parts; i = next.getAndIncrement()) {
                try {
                    part.accept(i);
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                } finally {
                    done.countDown();
                }
            }
        };
        int helpers = Math.min(parts - 1, POOL.getMaximumPoolSize());
        for (int h = 0; h < helpers; h++) {
            POOL.execute(worker);
        }
        worker.run();
        try {
            if (!done.await(DEADLINE_SECONDS, TimeUnit.SECONDS)) {
                throw new IllegalStateException("a kernel helper thread did not finish its part within " + DEADLINE_SECONDS
                        + " s; the JVM is starved of CPU or a helper is stuck (see a thread dump of 'lockstep-kernel-*')");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while kernel helper threads were running", e);
        }
        Throwable t = failure.get();
        if (t instanceof RuntimeException runtime) {
            throw runtime;
        }
        if (t instanceof Error error) {
            throw error;
        }
        if (t != null) {
            throw new IllegalStateException(t);
        }
    }

    private static ThreadPoolExecutor createPool() {
        int size = Math.max(1, ComputeThreads.processLimit() - 1);
        AtomicInteger count = new AtomicInteger();
        ThreadPoolExecutor pool = new ThreadPoolExecutor(size, size, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread thread = new Thread(r, "lockstep-kernel-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        });
        pool.allowCoreThreadTimeOut(true);
        return pool;
    }
}
