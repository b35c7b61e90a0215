package io.lockstep.worker.comm;

import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentRunner;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.ManyToOneConcurrentArrayQueue;
import org.agrona.concurrent.NanoClock;
import org.agrona.concurrent.SystemNanoClock;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;

/**
 * A {@link Collective} whose operations run on a communication agent, a thread of its own, so that
 * they progress while the training thread computes.
 *
 * <p>Operations are {@linkplain #submit submitted} in program order and executed one after another in
 * exactly that order by the agent, which is the only thread that ever touches the wrapped collective.
 * Every rank submits the same operations in the same order (the {@link Collective} contract), so the
 * ring sees them in one order everywhere, however the training threads of the ranks are timed. The
 * synchronous methods of {@link Collective} submit and then {@linkplain Pending#await() await}, so
 * code that never asks for overlap (SyncBatchNorm's reductions, checksums, evaluation) keeps working
 * unchanged, its calls queued behind any bucket still in flight.
 *
 * <p>Failures: an operation that fails on the agent fails its {@link Pending#await()} in the submitting
 * thread with the very exception the wrapped collective threw (same type, same message, e.g.
 * {@link CollectiveTimeoutException} naming the silent ranks, {@link PeerLostException}); later
 * operations then fail as they would have on the wrapped collective (unusable after a failure). Every
 * wait has a deadline: the wrapped collective bounds each operation itself, and an await gives up with
 * a {@link CollectiveTimeoutException} if the agent makes no progress for {@code stallMs} (longer than
 * the collective's own deadline, so this only fires if the agent thread itself is stuck). An interrupt
 * of the awaiting thread is passed on to the agent, which ends the running operation as an interrupt of
 * the caller's thread would have (the interrupt flag of the caller stays set).
 *
 * <p>Threads: one owner thread submits, awaits and closes (the replica's training thread); the agent
 * thread is started by the constructor and stopped by {@link #close()}.
 */
public final class AsyncCollective implements Collective {
    private static final int QUEUE_CAPACITY = 1024;
    private static final long AWAIT_PARK_NS = TimeUnit.MILLISECONDS.toNanos(1);

    private final Collective delegate;
    private final int rank;
    private final int size;
    private final long stallNs;
    private final NanoClock clock;
    private final ManyToOneConcurrentArrayQueue<Op<?>> queue = new ManyToOneConcurrentArrayQueue<>(QUEUE_CAPACITY);
    private final CommunicationAgent agent;
    private final AgentRunner runner;
    private volatile long lastProgressNs;
    private boolean closed;

    /**
     * Starts the agent thread.
     *
     * @param delegate the collective the agent drives; from now on only the agent may call it
     * @param stallMs  how long an await tolerates an agent that makes no progress; set it above the
     *                 wrapped collective's operation deadline so that deadline reports first
     * @param name     the agent thread's name, for thread dumps (e.g. {@code lockstep-comm-r0})
     */
    public AsyncCollective(Collective delegate, long stallMs, String name) {
        this(delegate, stallMs, name, SystemNanoClock.INSTANCE);
    }

    AsyncCollective(Collective delegate, long stallMs, String name, NanoClock clock) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
        if (stallMs <= 0) {
            throw new IllegalArgumentException("stallMs must be positive, was " + stallMs);
        }
        this.rank = delegate.rank();
        this.size = delegate.size();
        this.stallNs = TimeUnit.MILLISECONDS.toNanos(stallMs);
        this.clock = clock;
        this.lastProgressNs = clock.nanoTime();
        this.agent = new CommunicationAgent(name);
        // Short spin, then parks of up to 1 ms; submit() unparks the agent, so an idle agent costs no CPU
        // and still picks up a new operation at once.
        this.runner = new AgentRunner(new BackoffIdleStrategy(10, 10, TimeUnit.MICROSECONDS.toNanos(1),
                TimeUnit.MILLISECONDS.toNanos(1)), this::agentError, null, agent);
        AgentRunner.startOnThread(runner, runnable -> {
            Thread thread = new Thread(runnable, name);
            thread.setDaemon(true);
            return thread;
        });
    }

    /** An operation submitted to the agent; the owner thread awaits it. */
    public interface Pending {
        /** True once the operation finished, successfully or not. */
        boolean isDone();

        /**
         * Waits until the operation has finished; rethrows its failure.
         *
         * @throws CollectiveException the operation's own failure, or a timeout if the agent stalled
         */
        void await();
    }

    /**
     * Queues {@code body} to run on the agent against the wrapped collective, after every operation
     * submitted before it. {@code body} must be a collective call that every rank makes at this point.
     */
    public <T> Pending submit(String what, Function<Collective, T> body) {
        return enqueue(new Op<>(what, body));
    }

    /**
     * Queues an in-place all-reduce of {@code floatCount} native-order floats at {@code floatOffset} in
     * {@code floats}; the memory must stay untouched by the caller until the result is awaited.
     */
    public Pending allReduceAsync(ByteBuffer floats, int floatOffset, int floatCount, ReduceOp op) {
        return allReduceAsync(floats, floatOffset, floatCount, op, WireCompression.NONE);
    }

    /**
     * As {@link #allReduceAsync(ByteBuffer, int, int, ReduceOp)}, narrowed on the wire to {@code compression}
     * (see {@link Collective#allReduce(float[], int, int, ReduceOp, WireCompression)}).
     */
    public Pending allReduceAsync(ByteBuffer floats, int floatOffset, int floatCount, ReduceOp op,
                                  WireCompression compression) {
        Objects.requireNonNull(compression, "compression");
        return submit("all-reduce of " + floatCount + " floats", c -> {
            c.allReduce(floats, floatOffset, floatCount, op, compression);
            return null;
        });
    }

    private <T> Op<T> enqueue(Op<T> op) {
        if (closed) {
            throw new IllegalStateException("rank " + rank + ": the collective is closed");
        }
        op.waiter = Thread.currentThread();
        op.submittedNs = clock.nanoTime();
        long start = op.submittedNs;
        while (!queue.offer(op)) {
            // Only reachable with more than QUEUE_CAPACITY operations in flight: wait for the agent to drain.
            if (clock.nanoTime() - Math.max(start, lastProgressNs) > stallNs) {
                throw stalled(op);
            }
            Thread.onSpinWait();
        }
        Thread agentThread = runner.thread();
        if (agentThread != null) {
            LockSupport.unpark(agentThread);
        }
        return op;
    }

    private <T> T call(String what, Function<Collective, T> body) {
        Op<T> op = enqueue(new Op<>(what, body));
        op.await();
        return op.result;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    /** Queued like any operation, so it tags exactly the operations submitted after it. */
    @Override
    public void position(int epoch, long step) {
        submit("position", c -> {
            c.position(epoch, step);
            return null;
        });
    }

    @Override
    public void allReduce(float[] data, int offset, int length, ReduceOp op) {
        call("all-reduce", c -> {
            c.allReduce(data, offset, length, op);
            return null;
        });
    }

    @Override
    public void allReduce(float[] data, int offset, int length, ReduceOp op, WireCompression compression) {
        call("all-reduce", c -> {
            c.allReduce(data, offset, length, op, compression);
            return null;
        });
    }

    @Override
    public void allReduce(double[] data, int offset, int length, ReduceOp op) {
        call("all-reduce", c -> {
            c.allReduce(data, offset, length, op);
            return null;
        });
    }

    @Override
    public void allReduce(ByteBuffer floats, int floatOffset, int floatCount, ReduceOp op) {
        allReduceAsync(floats, floatOffset, floatCount, op).await();
    }

    @Override
    public CollectiveStats stats() {
        return call("stats", Collective::stats);
    }

    @Override
    public byte[][] allGather(byte[] contribution) {
        return call("all-gather", c -> c.allGather(contribution));
    }

    @Override
    public void broadcast(float[] data, int offset, int length, int root) {
        call("broadcast", c -> {
            c.broadcast(data, offset, length, root);
            return null;
        });
    }

    @Override
    public byte[] broadcast(byte[] data, int root) {
        return call("broadcast", c -> c.broadcast(data, root));
    }

    @Override
    public void barrier() {
        call("barrier", c -> {
            c.barrier();
            return null;
        });
    }

    /**
     * Lets the agent finish what is queued (each operation bounded by the wrapped collective's deadline),
     * stops it, then closes the wrapped collective on this thread. Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            // Normally nothing is queued: every operation was awaited. After a failure in the training thread,
            // let what is in flight end (each operation is bounded by the wrapped collective's deadline).
            while ((!queue.isEmpty() || agent.current != null) && clock.nanoTime() - lastProgressNs <= stallNs) {
                LockSupport.parkNanos(AWAIT_PARK_NS);
            }
        } finally {
            runner.close();
            Op<?> left;
            while ((left = queue.poll()) != null) {
                left.fail(new CollectiveException("rank " + rank + ": " + left.what + " was never run: the collective "
                        + "was closed first"));
            }
            delegate.close();
        }
    }

    private void agentError(Throwable error) {
        // Operations catch their own failures; this only sees errors of the agent runner itself.
        org.slf4j.LoggerFactory.getLogger(AsyncCollective.class).error("rank {}: communication agent failed", rank, error);
    }

    private CollectiveTimeoutException stalled(Op<?> op) {
        Op<?> running = agent.current;
        return new CollectiveTimeoutException("rank " + rank + " of " + size + ": " + op.what + " did not finish: the "
                + "communication agent made no progress for " + TimeUnit.NANOSECONDS.toMillis(stallNs) + " ms"
                + (running == null ? "" : " (it is inside " + running.what + ")")
                + ", longer than the collective's own deadline allows; the agent thread is stuck (look at a thread dump "
                + "of " + agent.roleName() + ")", List.of());
    }

    /** The agent: executes queued operations one at a time, in order. Only its thread touches the delegate. */
    private final class CommunicationAgent implements Agent {
        private final String name;
        private volatile Op<?> current;

        CommunicationAgent(String name) {
            this.name = name;
        }

        @Override
        public int doWork() {
            Op<?> op = queue.poll();
            if (op == null) {
                return 0;
            }
            current = op;
            lastProgressNs = clock.nanoTime();
            try {
                op.run(delegate);
            } finally {
                current = null;
                lastProgressNs = clock.nanoTime();
                // An interrupt passed on by an await has ended the operation; the owner keeps its own flag.
                Thread.interrupted();
            }
            return 1;
        }

        @Override
        public String roleName() {
            return name;
        }
    }

    private final class Op<T> implements Pending {
        private final String what;
        private final Function<Collective, T> body;
        private volatile boolean done;
        private T result;
        private Throwable failure;
        private Thread waiter;
        private long submittedNs;

        Op(String what, Function<Collective, T> body) {
            this.what = what;
            this.body = body;
        }

        void run(Collective collective) {
            try {
                result = body.apply(collective);
            } catch (RuntimeException | Error e) {
                failure = e;
            }
            done = true;
            LockSupport.unpark(waiter);
        }

        void fail(Throwable why) {
            failure = why;
            done = true;
        }

        @Override
        public boolean isDone() {
            return done;
        }

        @Override
        public void await() {
            boolean interrupted = false;
            while (!done) {
                if (Thread.interrupted()) {
                    interrupted = true;
                    Thread agentThread = runner.thread();
                    if (agentThread != null) {
                        agentThread.interrupt();
                    }
                }
                if (clock.nanoTime() - Math.max(submittedNs, lastProgressNs) > stallNs && !done) {
                    if (interrupted) {
                        Thread.currentThread().interrupt();
                    }
                    throw stalled(this);
                }
                LockSupport.parkNanos(this, AWAIT_PARK_NS);
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
            if (failure instanceof RuntimeException e) {
                throw e;
            }
            if (failure instanceof Error e) {
                throw e;
            }
        }
    }
}
