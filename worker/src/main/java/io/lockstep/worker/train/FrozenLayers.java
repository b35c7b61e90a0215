package io.lockstep.worker.train;

import io.lockstep.worker.device.HostMemory;
import io.lockstep.worker.nn.SyncBatchNormalizationLayer;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.NoOp;

import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.deeplearning4j.nn.updater.graph.ComputationGraphUpdater;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.regularization.Regularization;

import java.io.Serializable;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The layers a job keeps fixed ({@code --freeze}) and where their parameters lie in the model's flat
 * parameter (and gradient) vector.
 *
 * <p>A frozen layer is configured with DL4J's {@code NoOp} updater and no regularization
 * ({@link #configure}), so it has no optimizer state and weight decay does not touch it; every step its
 * gradient entries are set to zero before the exchange ({@link #zero}), so its parameters stay
 * bit-identical; only the trainable entries travel between replicas ({@link #gather}/{@link #scatter});
 * and its BatchNorm normalizes with the frozen running statistics without communicating
 * ({@link #freezeBatchNorms}).
 *
 * <p>Immutable once built; the ranges depend only on the configuration, so they are identical on
 * every replica. {@link #gather} and {@link #scatter} run on the training thread.
 */
public final class FrozenLayers {
    private static final FrozenLayers NONE = new FrozenLayers(Set.of(), new long[0], new long[0], 0);

    private final Set<String> names;
    private final long[] starts;
    private final long[] lengths;
    private final long total;
    private final long frozen;

    private FrozenLayers(Set<String> names, long[] starts, long[] lengths, long total) {
        this.names = Set.copyOf(names);
        this.starts = starts;
        this.lengths = lengths;
        this.total = total;
        long sum = 0;
        for (long length : lengths) {
            sum += length;
        }
        this.frozen = sum;
    }

    public static FrozenLayers none() {
        return NONE;
    }

    /**
     * The layers {@code names} of {@code graph}, which must be layer vertices with parameters.
     *
     * @throws IllegalArgumentException naming an unknown layer
     */
    public static FrozenLayers of(ComputationGraph graph, Collection<String> names) {
        if (names.isEmpty()) {
            return NONE;
        }
        INDArray params = graph.params();
        long base = params.offset();
        List<long[]> ranges = new ArrayList<>();
        for (String name : names) {
            GraphVertex vertex = graph.getVertex(name);
            if (vertex == null || !vertex.hasLayer() || vertex.numParams() == 0) {
                throw new IllegalArgumentException("no layer with parameters named '" + name + "' in the model");
            }
            for (INDArray view : vertex.paramTable(false).values()) {
                ranges.add(new long[]{view.offset() - base, view.length()});
            }
        }
        ranges.sort((a, b) -> Long.compare(a[0], b[0]));
        List<long[]> merged = new ArrayList<>();
        for (long[] range : ranges) {
            long[] last = merged.isEmpty() ? null : merged.get(merged.size() - 1);
            if (last != null && last[0] + last[1] == range[0]) {
                last[1] += range[1];
            } else {
                merged.add(range.clone());
            }
        }
        return new FrozenLayers(new LinkedHashSet<>(names), merged.stream().mapToLong(r -> r[0]).toArray(),
                merged.stream().mapToLong(r -> r[1]).toArray(), params.length());
    }

    /**
     * A new graph equal to {@code graph} in parameters, whose layers {@code names} have the NoOp updater
     * and no regularization; its optimizer state starts fresh (the frozen layers then have none).
     */
    public static ComputationGraph configure(ComputationGraph graph, Collection<String> names) {
        ComputationGraphConfiguration conf = graph.getConfiguration().clone();
        for (String name : names) {
            org.deeplearning4j.nn.conf.graph.GraphVertex vertex = conf.getVertices().get(name);
            if (!(vertex instanceof LayerVertex layerVertex) || !(layerVertex.getLayerConf().getLayer() instanceof BaseLayer)) {
                throw new IllegalArgumentException("layer '" + name + "' cannot be frozen: it is not a layer with parameters");
            }
            BaseLayer layer = (BaseLayer) layerVertex.getLayerConf().getLayer();
            layer.setIUpdater(new NoOp());
            layer.setBiasUpdater(null);
            layer.setRegularization(new ArrayList<>());
            layer.setRegularizationBias(new ArrayList<>());
        }
        ComputationGraph fresh = new ComputationGraph(conf);
        fresh.init(graph.params().dup(), false);
        if (graph.getListeners() != null && !graph.getListeners().isEmpty()) {
            fresh.setListeners(graph.getListeners());
        }
        return fresh;
    }

    /**
     * How a layer trains when it is not frozen: its updaters and regularization, kept by the driver so a
     * layer frozen at the start can be unfrozen later ({@link #thaw}).
     */
    public record LayerTraining(IUpdater updater, IUpdater biasUpdater, List<Regularization> regularization,
                                List<Regularization> regularizationBias) implements Serializable {
    }

    /** The training configuration of the layers {@code names} of {@code graph}, before {@link #configure}. */
    public static Map<String, LayerTraining> trainingOf(ComputationGraph graph, Collection<String> names) {
        Map<String, LayerTraining> training = new LinkedHashMap<>();
        for (String name : names) {
            BaseLayer layer = (BaseLayer) graph.getVertex(name).getLayer().conf().getLayer();
            training.put(name, new LayerTraining(layer.getIUpdater(), layer.getBiasUpdater(),
                    new ArrayList<>(layer.getRegularization()), new ArrayList<>(layer.getRegularizationBias())));
        }
        return training;
    }

    /**
     * {@code graph}, or a new graph equal to it, in which every layer of {@code training} that is not in
     * {@code stillFrozen} trains again with its own configuration. Parameters, iteration and epoch counts,
     * listeners and the optimizer state of the layers that trained before are kept; an unfrozen layer
     * starts with a fresh optimizer state. Deterministic, so every replica gets the same graph.
     */
    public static ComputationGraph thaw(ComputationGraph graph, Map<String, LayerTraining> training, Collection<String> stillFrozen) {
        ComputationGraphConfiguration conf = graph.getConfiguration().clone();
        boolean changed = false;
        for (Map.Entry<String, LayerTraining> entry : training.entrySet()) {
            if (stillFrozen.contains(entry.getKey())) {
                continue;
            }
            BaseLayer layer = (BaseLayer) ((LayerVertex) conf.getVertices().get(entry.getKey())).getLayerConf().getLayer();
            if (!(layer.getIUpdater() instanceof NoOp)) {
                continue;
            }
            LayerTraining t = entry.getValue();
            layer.setIUpdater(t.updater());
            layer.setBiasUpdater(t.biasUpdater());
            layer.setRegularization(new ArrayList<>(t.regularization()));
            layer.setRegularizationBias(new ArrayList<>(t.regularizationBias()));
            changed = true;
        }
        if (!changed) {
            return graph;
        }
        return rebuild(graph, conf);
    }

    /**
     * A new graph with configuration {@code conf} (the same layers as {@code graph}, updaters possibly
     * changed), holding {@code graph}'s parameters, iteration and epoch counts, listeners, and the optimizer
     * state of every parameter whose updater keeps its kind (a parameter whose updater changes kind starts
     * fresh). DL4J groups consecutive parameters with equal updater settings into blocks, so changing one
     * layer's settings moves the others' state: it is carried over parameter by parameter.
     */
    static ComputationGraph rebuild(ComputationGraph graph, ComputationGraphConfiguration conf) {
        conf.setIterationCount(graph.getConfiguration().getIterationCount());
        conf.setEpochCount(graph.getConfiguration().getEpochCount());
        ComputationGraph fresh = new ComputationGraph(conf);
        fresh.init(graph.params().dup(), false);
        Map<String, float[][]> states = optimizerStates(graph);
        ComputationGraphUpdater updater = fresh.getUpdater(true);
        INDArray view = updater.getStateViewArray();
        if (view != null && !states.isEmpty()) {
            float[] values = view.toFloatVector();
            forEachParam(updater, (key, slots, blockLength, stateStart, offsetInBlock, length) -> {
                float[][] saved = states.get(key);
                if (saved != null && saved.length == slots) {
                    for (int k = 0; k < slots; k++) {
                        System.arraycopy(saved[k], 0, values, stateStart + k * blockLength + offsetInBlock, length);
                    }
                }
            });
            view.assign(Nd4j.createFromArray(values).reshape(view.shape()));
        }
        if (graph.getListeners() != null && !graph.getListeners().isEmpty()) {
            fresh.setListeners(graph.getListeners());
        }
        return fresh;
    }

    /** Where one parameter's optimizer state lies in an updater's state view. */
    @FunctionalInterface
    private interface ParamStateVisitor {
        void visit(String key, int slots, int blockLength, int stateStart, int offsetInBlock, int length);
    }

    /**
     * Visits every parameter of every updater block. DL4J lays out a block's state slot by slot (Adam: all
     * first moments of the block, then all second moments), each slot as long as the block's parameters.
     */
    private static void forEachParam(ComputationGraphUpdater updater, ParamStateVisitor visitor) {
        for (UpdaterBlock block : updater.getUpdaterBlocks()) {
            int blockLength = Math.toIntExact(block.getParamOffsetEnd() - block.getParamOffsetStart());
            int stateLength = Math.toIntExact(block.getUpdaterViewOffsetEnd() - block.getUpdaterViewOffsetStart());
            int slots = blockLength == 0 ? 0 : stateLength / blockLength;
            for (UpdaterBlock.ParamState param : block.getLayersAndVariablesInBlock()) {
                String key = param.getLayer().getConfig().getLayerName() + "/" + param.getParamName();
                visitor.visit(key, slots, blockLength, Math.toIntExact(block.getUpdaterViewOffsetStart()),
                        Math.toIntExact(param.getParamOffsetStart() - block.getParamOffsetStart()),
                        Math.toIntExact(param.getParamOffsetEnd() - param.getParamOffsetStart()));
            }
        }
    }

    /** Each parameter's optimizer state, slot by slot, keyed {@code layer/param}. */
    private static Map<String, float[][]> optimizerStates(ComputationGraph graph) {
        ComputationGraphUpdater updater = graph.getUpdater(false);
        if (updater == null || updater.getStateViewArray() == null) {
            return Map.of();
        }
        float[] values = updater.getStateViewArray().toFloatVector();
        Map<String, float[][]> states = new java.util.HashMap<>();
        forEachParam(updater, (key, slots, blockLength, stateStart, offsetInBlock, length) -> {
            float[][] state = new float[slots][];
            for (int k = 0; k < slots; k++) {
                int from = stateStart + k * blockLength + offsetInBlock;
                state[k] = java.util.Arrays.copyOfRange(values, from, from + length);
            }
            states.put(key, state);
        });
        return states;
    }

    /**
     * Checks that every frozen layer of {@code graph} is configured as {@link #configure} leaves it, so
     * nothing but the (zeroed) gradient could move its parameters.
     *
     * @throws IllegalStateException naming a layer that is still configured to train
     */
    public void requireConfigured(ComputationGraph graph) {
        for (String name : names) {
            Layer layer = graph.getVertex(name).getLayer();
            if (!(layer.conf().getLayer() instanceof BaseLayer base) || !(base.getIUpdater() instanceof NoOp)
                    || !base.getRegularization().isEmpty()) {
                throw new IllegalStateException("layer '" + name + "' is frozen for this job but the model was saved with it "
                        + "trainable (updater " + (layer.conf().getLayer() instanceof BaseLayer b ? b.getIUpdater() : "none")
                        + "); resume with the --freeze the job started with");
            }
        }
    }

    /** Puts the synchronized (or per-replica) BatchNorm layers among the frozen ones in frozen mode. */
    public void freezeBatchNorms(ComputationGraph graph) {
        for (GraphVertex vertex : graph.getVertices()) {
            if (vertex.hasLayer() && vertex.getLayer() instanceof SyncBatchNormalizationLayer layer) {
                layer.setFrozen(names.contains(vertex.getVertexName()));
            }
        }
    }

    public boolean isEmpty() {
        return names.isEmpty();
    }

    public Set<String> names() {
        return names;
    }

    /** Parameters in frozen layers. */
    public long frozenCount() {
        return frozen;
    }

    /** Entries of the flat gradient that train and are exchanged. */
    public int trainableCount() {
        return Math.toIntExact(total - frozen);
    }

    /** Sets the frozen entries of the flat gradient to zero. */
    public void zero(INDArray flatGradient) {
        if (frozen == 0) {
            return;
        }
        FloatBuffer view = HostMemory.floats(flatGradient);
        int first = view.position();
        for (int r = 0; r < starts.length; r++) {
            for (long i = starts[r], end = starts[r] + lengths[r]; i < end; i++) {
                view.put(first + (int) i, 0f);
            }
        }
        HostMemory.afterHostWrite(flatGradient);
    }

    /** Copies the trainable entries of the flat gradient, in order, into {@code into[0, trainableCount())}. */
    public void gather(INDArray flatGradient, float[] into) {
        FloatBuffer view = HostMemory.floats(flatGradient);
        int first = view.position();
        int written = 0;
        long from = 0;
        for (int r = 0; r <= starts.length; r++) {
            long to = r < starts.length ? starts[r] : total;
            int length = (int) (to - from);
            view.position(first + (int) from);
            view.get(into, written, length);
            written += length;
            from = r < starts.length ? starts[r] + lengths[r] : total;
        }
        view.position(first);
    }

    /** The inverse of {@link #gather}: writes {@code from[0, trainableCount())} back into the trainable entries. */
    public void scatter(float[] from, INDArray flatGradient) {
        FloatBuffer view = HostMemory.floats(flatGradient);
        int first = view.position();
        int read = 0;
        long at = 0;
        for (int r = 0; r <= starts.length; r++) {
            long to = r < starts.length ? starts[r] : total;
            int length = (int) (to - at);
            view.position(first + (int) at);
            view.put(from, read, length);
            read += length;
            at = r < starts.length ? starts[r] + lengths[r] : total;
        }
        view.position(first);
        HostMemory.afterHostWrite(flatGradient);
    }

    @Override
    public String toString() {
        return names.size() + " frozen layers (" + frozen + " of " + total + " parameters)";
    }
}
