package io.lockstep.driver.train;

import io.lockstep.driver.cli.UserError;
import io.lockstep.models.Architecture;
import io.lockstep.models.ModelLayers;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.models.torch.SafeTensors;
import io.lockstep.models.torch.TorchWeights;
import io.lockstep.models.torch.WeightImportException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code --init-from}: the weights a job starts from, copied layer by layer into the model the job
 * trains, with every shape checked first; {@code --replace-head} keeps the model's own freshly
 * initialized output layers (initialized from the job's seed) instead of the file's.
 *
 * <p>Only parameters (BatchNorm running statistics included) are copied: the optimizer state and the
 * iteration count start fresh, as they should for a new task. Runs on the driver before any stage starts.
 */
final class InitialWeights {
    private static final String CHECKPOINT_MODEL = "model.zip";

    private InitialWeights() {
    }

    /**
     * @param uri         a model file, a checkpoint directory or a {@code .safetensors} state_dict
     * @param target      the job's initialized model (its head stays when {@code replaceHead})
     * @param description how to name the model in errors, e.g. {@code resnet20 for 1x28x28 input and 5 classes}
     * @param zooModel    the zoo name of the model, needed for PyTorch weights; {@code null} for the caller's network
     * @param options     the zoo model's options (class count of the data), or {@code null}
     * @return {@code target}, holding the loaded weights
     */
    static ComputationGraph load(String uri, ComputationGraph target, String description, String zooModel,
                                 ModelOptions options, boolean replaceHead, Configuration hadoopConf) {
        ComputationGraph source = uri.endsWith(".safetensors")
                ? readTorch(uri, zooModel, options, hadoopConf)
                : readModel(uri, hadoopConf);
        copy(uri, source, target, description, replaceHead);
        return target;
    }

    private static ComputationGraph readModel(String uri, Configuration hadoopConf) {
        try {
            Path path = new Path(uri);
            FileSystem fs = path.getFileSystem(hadoopConf);
            if (!fs.exists(path)) {
                throw new UserError("--init-from: " + uri + " does not exist; give a model.zip, a checkpoint directory or a "
                        + ".safetensors state_dict");
            }
            if (fs.getFileStatus(path).isDirectory()) {
                path = new Path(path, CHECKPOINT_MODEL);
                if (!fs.exists(path)) {
                    throw new UserError("--init-from: the directory " + uri + " holds no " + CHECKPOINT_MODEL
                            + "; give a checkpoint directory (checkpoint-EEEEE-SSSSSSSS) or a model file");
                }
            }
            try (FSDataInputStream in = fs.open(path)) {
                return ModelSerializer.restoreComputationGraph(in, false);
            } catch (RuntimeException e) {
                throw new UserError("--init-from: " + path + " is not a Lockstep or DL4J ComputationGraph model file ("
                        + e.getMessage() + "); give a model.zip written by lockstep train or import-weights, a checkpoint "
                        + "directory, or a .safetensors state_dict", e);
            }
        } catch (IOException e) {
            throw new UserError("--init-from: cannot read " + uri + ": " + e.getMessage(), e);
        }
    }

    /** A PyTorch state_dict, imported into the zoo model built for the file's own class count. */
    private static ComputationGraph readTorch(String uri, String zooModel, ModelOptions options, Configuration hadoopConf) {
        if (zooModel == null) {
            throw new UserError("--init-from: PyTorch weights (" + uri + ") load into zoo models only; import them into "
                    + "your network yourself, or give a model.zip");
        }
        File local = localCopy(uri, hadoopConf);
        try {
            Architecture architecture = ModelRegistry.get(zooModel);
            SafeTensors weights = SafeTensors.open(local.toPath());
            SafeTensors.Entry head = weights.entries().get(headTensor(architecture));
            int fileClasses = head == null ? options.numClasses() : Math.toIntExact(head.shape()[0]);
            ModelOptions fileOptions = new ModelOptions(fileClasses, options.input(), options.normalization(), options.seed(),
                    options.updater(), options.weightDecay(), options.normGroups(), options.layout());
            return TorchWeights.load(zooModel, fileOptions, local.toPath());
        } catch (WeightImportException e) {
            throw new UserError("--init-from: " + e.getMessage(), e);
        } finally {
            if (!uri.equals(local.getPath())) {
                local.delete();
            }
        }
    }

    private static String headTensor(Architecture architecture) {
        String module = architecture.torchModule(Architecture.OUTPUT);
        return (module.isEmpty() ? "" : module + ".") + "weight";
    }

    private static File localCopy(String uri, Configuration hadoopConf) {
        URI parsed = new Path(uri).toUri();
        if (parsed.getScheme() == null || parsed.getScheme().equals("file")) {
            File file = new File(parsed.getPath());
            if (!file.isFile()) {
                throw new UserError("--init-from: " + uri + " is not a file; give the .safetensors file of a PyTorch state_dict");
            }
            return file;
        }
        try {
            File local = Files.createTempFile("lockstep-init", ".safetensors").toFile();
            new Path(uri).getFileSystem(hadoopConf).copyToLocalFile(new Path(uri), new Path(local.toURI()));
            return local;
        } catch (IOException e) {
            throw new UserError("--init-from: cannot read " + uri + ": " + e.getMessage(), e);
        }
    }

    /** Checks every layer of {@code target} against {@code source}, then copies: nothing is copied on a mismatch. */
    static void copy(String uri, ComputationGraph source, ComputationGraph target, String description, boolean replaceHead) {
        ModelLayers layers = ModelLayers.of(target);
        Set<String> keep = replaceHead ? layers.heads() : Set.of();
        List<String> problems = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        List<INDArray[]> assignments = new ArrayList<>();
        for (ModelLayers.Layer layer : layers.layers()) {
            if (keep.contains(layer.name())) {
                continue;
            }
            GraphVertex from = source.getVertex(layer.name());
            if (from == null || !from.hasLayer() || from.numParams() == 0) {
                missing.add(layer.name());
                continue;
            }
            Map<String, INDArray> fromParams = from.paramTable(false);
            for (Map.Entry<String, INDArray> param : target.getVertex(layer.name()).paramTable(false).entrySet()) {
                INDArray value = fromParams.get(param.getKey());
                if (value == null) {
                    problems.add("layer '" + layer.name() + "' has no parameter " + param.getKey() + " in the file (it has "
                            + fromParams.keySet() + ")");
                } else if (!Arrays.equals(value.shape(), param.getValue().shape())) {
                    problems.add("layer '" + layer.name() + "' parameter " + param.getKey() + " has shape "
                            + Arrays.toString(value.shape()) + " in the file but " + Arrays.toString(param.getValue().shape())
                            + " in " + description);
                } else {
                    assignments.add(new INDArray[]{param.getValue(), value});
                }
            }
        }
        if (!missing.isEmpty()) {
            throw new UserError("--init-from " + uri + ": " + missing.size() + " layer(s) of " + description
                    + " are not in the file, e.g. " + missing.subList(0, Math.min(5, missing.size()))
                    + "; the file holds another architecture: give the --model it was trained as");
        }
        if (!problems.isEmpty()) {
            boolean onlyHead = problems.stream().allMatch(p -> layers.heads().stream().anyMatch(h -> p.startsWith("layer '" + h + "'")));
            String fix = onlyHead
                    ? "the file's output layer was trained for another class count: add --replace-head "
                    + Networks.outputSize(target)
                    + " to train a new output layer for this dataset's classes"
                    : "the file was trained for another input size or architecture: give the --model, input size and "
                    + "--norm it was trained with";
            throw new UserError("--init-from " + uri + ": " + String.join("; ", problems.subList(0, Math.min(5, problems.size())))
                    + (problems.size() > 5 ? " (and " + (problems.size() - 5) + " more)" : "") + "; " + fix);
        }
        for (INDArray[] assignment : assignments) {
            assignment[0].assign(assignment[1].castTo(assignment[0].dataType()));
        }
    }
}
