package io.lockstep.models.torch;

import io.lockstep.models.Architecture;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.DoubleUnaryOperator;

/**
 * Loads a PyTorch {@code state_dict} saved as safetensors into a zoo model: names come from
 * {@link Architecture#torchModule} plus the per-layer suffixes of {@link TorchLayouts}; layouts are
 * converted there (convolutions OIHW as they are, {@code nn.Linear} weights transposed, BatchNorm
 * running variance into DL4J's log10 standard deviation).
 *
 * <p>All-or-nothing: every tensor is read, checked and converted before the first parameter of the
 * graph is written, and {@link #importToFile} writes its output under a temporary name that is renamed
 * only on success. A tensor missing from the file, a tensor of another shape, or a tensor the model has
 * no place for fails with a {@link WeightImportException} naming the tensor, both shapes and the fix.
 * PyTorch's {@code num_batches_tracked} counters are ignored (DL4J uses a fixed momentum).
 *
 * <p>Stateless and thread-safe; the graph passed in is not (one caller at a time).
 */
public final class TorchWeights {
    private static final String BATCH_COUNTER = "num_batches_tracked";

    private TorchWeights() {
    }

    /**
     * Builds {@code model} with {@code options} and loads the weights of {@code file} into it: the single
     * call for starting a training job from PyTorch weights.
     */
    public static ComputationGraph load(String model, ModelOptions options, Path file) {
        SafeTensors weights = SafeTensors.open(file);
        Architecture architecture = ModelRegistry.get(model);
        ComputationGraph graph = ModelRegistry.build(model, options);
        loadInto(architecture, options, graph, weights);
        return graph;
    }

    /**
     * Imports {@code from} into {@code model} and writes the result, in DL4J's model format
     * ({@code ModelSerializer}), to {@code out}. On any error {@code out} is left as it was.
     */
    public static void importToFile(String model, ModelOptions options, Path from, Path out) {
        ComputationGraph graph = load(model, options, from);
        Path absolute = out.toAbsolutePath();
        Path temporary = absolute.resolveSibling("." + absolute.getFileName() + ".partial");
        try {
            ModelSerializer.writeModel(graph, temporary.toFile(), false);
            try {
                Files.move(temporary, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temporary, absolute, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new WeightImportException("cannot write " + out + ": " + e.getMessage(), e);
        } finally {
            try {
                Files.deleteIfExists(temporary);
            } catch (IOException ignored) {
                // best effort: the temporary file only remains if the rename already failed
            }
        }
    }

    /** Loads {@code weights} into {@code graph}, which must have been built from {@code architecture}. */
    public static void loadInto(Architecture architecture, ModelOptions options, ComputationGraph graph, SafeTensors weights) {
        List<Runnable> assignments = new ArrayList<>();
        Set<String> unused = new LinkedHashSet<>(weights.entries().keySet());
        unused.removeIf(name -> name.equals(BATCH_COUNTER) || name.endsWith("." + BATCH_COUNTER));
        for (GraphVertex graphVertex : graph.getVertices()) {
            if (!graphVertex.hasLayer()) {
                continue;
            }
            Layer layer = graphVertex.getLayer();
            String vertex = graphVertex.getVertexName();
            String module = architecture.torchModule(vertex);
            List<TorchLayouts.TorchTensor> tensors = TorchLayouts.of(layer.conf().getLayer());
            Set<String> keys = new LinkedHashSet<>(layer.paramTable().keySet());
            for (TorchLayouts.TorchTensor tensor : tensors) {
                String name = module.isEmpty() ? tensor.suffix() : module + "." + tensor.suffix();
                INDArray target = layer.paramTable().get(tensor.key());
                if (target == null || !keys.remove(tensor.key())) {
                    throw new IllegalStateException(architecture.name() + ": vertex " + vertex + " has no parameter "
                            + tensor.key() + " but its PyTorch layout names one; fix TorchLayouts");
                }
                assignments.add(prepare(architecture, options, weights, vertex, name, tensor, target));
                unused.remove(name);
            }
            if (!keys.isEmpty()) {
                throw new IllegalStateException(architecture.name() + ": parameters " + keys + " of vertex " + vertex
                        + " have no PyTorch counterpart; fix TorchLayouts");
            }
        }
        if (!unused.isEmpty()) {
            List<String> some = unused.stream().limit(5).toList();
            throw new WeightImportException(weights.file() + ": " + unused.size() + " tensor(s) have no counterpart in "
                    + architecture.name() + ", for example " + describe(weights, some)
                    + "; the file holds another architecture's state_dict: choose the model it was saved from");
        }
        assignments.forEach(Runnable::run);
    }

    private static Runnable prepare(Architecture architecture, ModelOptions options, SafeTensors weights, String vertex,
                                    String name, TorchLayouts.TorchTensor tensor, INDArray target) {
        long[] expected = torchShape(target.shape(), tensor.layout());
        SafeTensors.Entry entry = weights.entries().get(name);
        if (entry == null) {
            throw new WeightImportException(weights.file() + " has no tensor '" + name + "' (shape "
                    + Arrays.toString(expected) + ", for " + architecture.name() + " vertex " + vertex + " parameter "
                    + tensor.key() + "); is it a state_dict of " + architecture.name() + "?");
        }
        if (!Arrays.equals(entry.shape(), expected)) {
            throw new WeightImportException(weights.file() + ": tensor '" + name + "' has shape " + entry.shapeText()
                    + " but " + architecture.name() + " at input " + options.input() + " with " + options.numClasses()
                    + " classes expects " + Arrays.toString(expected) + "; " + shapeHint(vertex, entry, expected));
        }
        if (!entry.floatingPoint()) {
            throw new WeightImportException(weights.file() + ": tensor '" + name + "' is " + entry.dtype()
                    + " but must be floating point; save the state_dict in float32");
        }
        float[] values = weights.readFloats(name);
        DoubleUnaryOperator conversion = tensor.values();
        if (conversion != null) {
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) conversion.applyAsDouble(values[i]);
            }
        }
        return () -> {
            INDArray source = Nd4j.create(values, entry.shape(), 'c').castTo(target.dataType());
            switch (tensor.layout()) {
                case SAME -> target.assign(source);
                case VECTOR -> target.assign(source.reshape(target.shape()));
                case TRANSPOSE -> target.assign(source.transpose());
            }
        };
    }

    private static String shapeHint(String vertex, SafeTensors.Entry entry, long[] expected) {
        if (vertex.equals(Architecture.OUTPUT) && entry.shape().length >= 1 && expected.length >= 1
                && entry.shape()[0] != expected[0]) {
            return "the file was saved for " + entry.shape()[0] + " classes: import it with that class count (--classes "
                    + entry.shape()[0] + ")";
        }
        return "the file holds another architecture or another input size: choose the model and input it was saved for";
    }

    private static long[] torchShape(long[] dl4j, TorchLayouts.Layout layout) {
        return switch (layout) {
            case SAME -> dl4j.clone();
            case VECTOR -> new long[]{Arrays.stream(dl4j).reduce(1, (a, b) -> a * b)};
            case TRANSPOSE -> {
                if (dl4j.length != 2) {
                    throw new IllegalStateException("TRANSPOSE needs a matrix parameter, got " + Arrays.toString(dl4j));
                }
                yield new long[]{dl4j[1], dl4j[0]};
            }
        };
    }

    private static String describe(SafeTensors weights, List<String> names) {
        List<String> parts = new ArrayList<>();
        for (String n : names) {
            parts.add("'" + n + "' " + weights.entries().get(n).shapeText());
        }
        return String.join(", ", parts);
    }
}
