package io.lockstep.worker.exchange;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.ReduceOp;
import io.lockstep.worker.train.GradientExchange;
import org.deeplearning4j.nn.api.Updater;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;
import java.util.Objects;

/**
 * {@code average}: parameter averaging, a.k.a. local SGD. Each replica takes {@code K} local optimizer
 * steps on its own gradient; then, in {@link #afterStep}, the flattened parameters and the flattened
 * updater state (momentum, Adam moments) are averaged across replicas with one all-reduce and every
 * replica continues from the average. DL4J keeps BatchNorm running statistics (mean, log10 std or var)
 * among the parameters, so they are averaged too, arithmetically like every parameter — the same
 * thing {@code allreduce} does to their pseudo-gradients, which makes K = 1 match synchronous
 * training even with BatchNorm.
 *
 * <p>K = 1 with plain SGD, momentum or Nesterov equals synchronous gradient averaging (to float
 * rounding): the update is linear in the gradient, so the average of the replicas' updated parameters
 * (and momenta) is the update with the average gradient. Adam and other updaters nonlinear in the
 * gradient do not have this property.
 *
 * <p>Post-local SGD: the first {@code W} global steps ({@code averageWarmupSteps}) average the gradient
 * synchronously like {@code allreduce}; afterwards rounds come after every K local steps
 * (after global steps W+K−1, W+2K−1, …). The step number comes from {@link #afterStep}; before the
 * first one (also right after a resume) the exchange assumes step 0, which can only turn a local step
 * into a synchronous one, never break agreement: the decision is the same on every replica.
 *
 * <p>Between rounds replicas differ ({@link #replicasInSync()} is false); call {@link #synchronize}
 * on every replica before evaluating or checkpointing. {@link #lastBytesSent()} counts what the ring
 * all-reduce sends per rank, 2(N−1)/N of the buffer, in the step it happens (0 on local steps).
 *
 * <p>Owned by the replica's training thread; not thread-safe. Rounds copy through one reused
 * {@code float[]} (params + updater state) and allocate nothing once it is sized.
 */
public final class ParameterAveragingExchange implements GradientExchange {
    private final Collective collective;
    private final int everySteps;
    private final long warmupSteps;
    private final FlatFloats gradientView = new FlatFloats("gradient");
    private final FlatFloats paramsView = new FlatFloats("parameters");
    private final FlatFloats updaterView = new FlatFloats("updater state");
    private float[] staging = new float[0];

    private long nextGlobalStep;
    private boolean inSync = true;
    private boolean synchronousStep;
    private boolean averagedThisStep;
    private long rounds;
    private long lastBytesSent;
    private long lastNanos;

    public ParameterAveragingExchange(Collective collective, ExchangeSettings settings) {
        this.collective = Objects.requireNonNull(collective, "collective");
        Objects.requireNonNull(settings, "settings");
        this.everySteps = settings.averageEverySteps();
        this.warmupSteps = settings.averageWarmupSteps();
    }

    @Override
    public void exchange(INDArray flatGradient, int epoch, long step) {
        long start = System.nanoTime();
        lastBytesSent = 0;
        averagedThisStep = false;
        synchronousStep = nextGlobalStep < warmupSteps;
        if (synchronousStep) {
            int length = gradientView.length(flatGradient);
            ensureStaging(length);
            gradientView.copyOut(flatGradient, staging, 0);
            collective.allReduce(staging, 0, length, ReduceOp.AVERAGE);
            gradientView.copyIn(staging, 0, flatGradient);
            lastBytesSent = ringBytes(length);
        }
        lastNanos = System.nanoTime() - start;
    }

    @Override
    public void afterStep(ComputationGraph graph, int epoch, long globalStep) {
        nextGlobalStep = globalStep + 1;
        if (synchronousStep) {
            return; // the same averaged gradient went into identical updaters: agreement is unchanged
        }
        inSync = false;
        if ((globalStep - warmupSteps + 1) % everySteps == 0) {
            long start = System.nanoTime();
            average(graph);
            lastNanos += System.nanoTime() - start;
        }
    }

    /** Averages now unless replicas already agree; every replica must call it at the same point. */
    @Override
    public void synchronize(ComputationGraph graph) {
        if (!inSync) {
            average(graph);
        }
    }

    @Override
    public boolean replicasInSync() {
        return inSync;
    }

    /** Number of averaging rounds so far. */
    public long rounds() {
        return rounds;
    }

    private void average(ComputationGraph graph) {
        INDArray params = graph.params();
        Updater updater = graph.getUpdater();
        INDArray updaterState = updater == null ? null : updater.getStateViewArray();
        int paramCount = paramsView.length(params);
        int stateCount = updaterState == null ? 0 : updaterView.length(updaterState);
        int length = Math.addExact(paramCount, stateCount);
        ensureStaging(length);
        paramsView.copyOut(params, staging, 0);
        if (stateCount > 0) {
            updaterView.copyOut(updaterState, staging, paramCount);
        }
        collective.allReduce(staging, 0, length, ReduceOp.AVERAGE);
        paramsView.copyIn(staging, 0, params);
        if (stateCount > 0) {
            updaterView.copyIn(staging, paramCount, updaterState);
        }
        lastBytesSent += ringBytes(length);
        averagedThisStep = true;
        inSync = true;
        rounds++;
    }

    private void ensureStaging(int length) {
        if (staging.length < length) {
            staging = new float[length];
        }
    }

    private long ringBytes(int floats) {
        int n = collective.size();
        return n <= 1 ? 0 : (long) (2.0 * (n - 1) / n * floats * Float.BYTES);
    }

    @Override
    public Map<String, Double> lastStepMetrics() {
        return Map.of("averaging_round", averagedThisStep ? 1.0 : 0.0,
                "synchronous_step", synchronousStep ? 1.0 : 0.0);
    }

    @Override
    public long lastBytesSent() {
        return lastBytesSent;
    }

    @Override
    public long lastExchangeNanos() {
        return lastNanos;
    }
}
