package io.lockstep.worker.train;

import io.lockstep.worker.device.HostMemory;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.FloatBuffer;
import java.util.Map;

/**
 * An exchange strategy restricted to the trainable part of a model with frozen layers: every step the
 * frozen layers' gradient entries are set to zero (their NoOp updater would otherwise apply them), and
 * the strategy sees only the trainable entries, packed in order into one buffer, so the bytes sent fall
 * with the frozen share. A strategy whose exchange depends on where entries lie in the model
 * ({@link GradientExchange#needsModelLayout()}) is given the whole gradient instead, with the frozen
 * entries zero.
 *
 * <p>Owned by the replica's training thread; identical on every replica.
 */
public final class FrozenExchange implements GradientExchange {
    private final GradientExchange inner;
    private final FrozenLayers frozen;
    private final boolean pack;
    private final INDArray packed;
    private final float[] staging;

    public FrozenExchange(GradientExchange inner, FrozenLayers frozen) {
        this.inner = inner;
        this.frozen = frozen;
        this.pack = !inner.needsModelLayout();
        this.packed = pack ? Nd4j.create(DataType.FLOAT, frozen.trainableCount()) : null;
        this.staging = pack ? new float[frozen.trainableCount()] : null;
    }

    @Override
    public void attach(ComputationGraph graph) {
        inner.attach(graph);
    }

    @Override
    public void exchange(INDArray flatGradient, int epoch, long step) {
        frozen.zero(flatGradient);
        if (!pack) {
            inner.exchange(flatGradient, epoch, step);
            return;
        }
        frozen.gather(flatGradient, staging);
        FloatBuffer view = HostMemory.floats(packed);
        int first = view.position();
        view.put(staging);
        HostMemory.afterHostWrite(packed);
        inner.exchange(packed, epoch, step);
        view = HostMemory.floats(packed);
        view.position(first);
        view.get(staging);
        frozen.scatter(staging, flatGradient);
    }

    @Override
    public void afterStep(ComputationGraph graph, int epoch, long globalStep) {
        inner.afterStep(graph, epoch, globalStep);
    }

    @Override
    public void synchronize(ComputationGraph graph) {
        inner.synchronize(graph);
    }

    @Override
    public boolean replicasInSync() {
        return inner.replicasInSync();
    }

    @Override
    public Map<String, float[]> state() {
        return inner.state();
    }

    @Override
    public void restore(Map<String, float[]> state) {
        inner.restore(state);
    }

    @Override
    public Map<String, Double> lastStepMetrics() {
        return inner.lastStepMetrics();
    }

    @Override
    public long lastBytesSent() {
        return inner.lastBytesSent();
    }

    @Override
    public long lastExchangeNanos() {
        return inner.lastExchangeNanos();
    }

    @Override
    public void close() {
        inner.close();
    }
}
