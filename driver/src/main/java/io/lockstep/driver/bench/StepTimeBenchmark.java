package io.lockstep.driver.bench;

import io.lockstep.models.ActivationLayout;
import io.lockstep.models.InputShape;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.models.OneDnn;
import io.lockstep.models.TrainingBatches;
import io.lockstep.worker.nn.BatchNormSwap;
import io.lockstep.worker.nn.ConvolutionKernels;
import io.lockstep.worker.nn.ConvolutionSwap;
import io.lockstep.worker.train.ComputeThreads;
import io.lockstep.worker.train.LeanUpdaterBlock;
import io.lockstep.worker.train.Optimizer;
import io.lockstep.worker.train.ReplicaTrainer;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code lockstep bench step}: single-replica training step time (forward, backward, optimizer) on
 * synthetic data, in this JVM, with or without DL4J's OneDNN layer helpers. This is the floor all
 * distributed speed stands on. Prints figures; asserts nothing.
 */
@Command(name = "step", mixinStandardHelpOptions = true, showDefaultValues = true,
        description = "Measure single-replica training step time on synthetic data.")
public final class StepTimeBenchmark implements Callable<Integer> {
    @Option(names = "--model", defaultValue = "resnet20")
    String model;

    @Option(names = "--input", defaultValue = "1x28x28", description = "CxHxW")
    String input;

    @Option(names = "--batch-size", defaultValue = "64")
    int batchSize;

    @Option(names = "--warmup-steps", defaultValue = "5")
    int warmupSteps;

    @Option(names = "--steps", defaultValue = "30")
    int steps;

    @Option(names = "--threads", defaultValue = "0", description = "compute threads of ND4J/OneDNN (0: as the JVM started: OMP_NUM_THREADS or all cores)")
    int threads;

    @Option(names = "--norm", defaultValue = "batch",
            description = "batch: Lockstep's BatchNorm layer as `train --norm batch` uses it; sync-batch: the same layer "
                    + "in its synchronized form with no peers; dl4j-batch: DL4J's own BatchNorm (OneDNN helper when on)")
    String norm;

    @Option(names = "--onednn", defaultValue = "on", description = "on or off: DL4J's OneDNN layer helpers")
    String onednn;

    @Option(names = "--layout", defaultValue = "nchw", converter = LayoutConverter.class,
            description = "nchw or nhwc: memory layout of the activations between layers (nhwc: resnet family only; "
                    + "same parameters, the input stays NCHW)")
    ActivationLayout layout;

    @Option(names = "--cache-mode", defaultValue = "device", converter = CacheModeConverter.class,
            description = "device or none: DL4J's cache mode. device (what training uses) keeps each convolution's "
                    + "forward output for its backward pass; with none (DL4J's default) the backward pass runs the "
                    + "forward convolution again")
    CacheMode cacheMode;

    @Option(names = "--conv", defaultValue = "dnnl", converter = ConvKernelsConverter.class,
            description = "dnnl or dl4j: what runs the convolutions on the CPU backend. dnnl: OneDNN's NHWC kernels "
                    + "called directly (float, explicit padding; NCHW activations converted around each convolution; "
                    + "anything else stays on DL4J's path); dl4j: DL4J's layer and its OneDNN helper")
    ConvolutionKernels conv;

    static final class ConvKernelsConverter implements picocli.CommandLine.ITypeConverter<ConvolutionKernels> {
        @Override
        public ConvolutionKernels convert(String value) {
            return ConvolutionKernels.parse(value);
        }
    }

    static final class CacheModeConverter implements picocli.CommandLine.ITypeConverter<CacheMode> {
        @Override
        public CacheMode convert(String value) {
            return switch (value.trim().toLowerCase(Locale.ROOT)) {
                case "none" -> CacheMode.NONE;
                case "device" -> CacheMode.DEVICE;
                default -> throw new IllegalArgumentException("expected none or device, got " + value);
            };
        }
    }

    static final class LayoutConverter implements picocli.CommandLine.ITypeConverter<ActivationLayout> {
        @Override
        public ActivationLayout convert(String value) {
            return ActivationLayout.parse(value);
        }
    }

    @Override
    public Integer call() {
        boolean helpers = !"off".equals(onednn.toLowerCase(Locale.ROOT));
        System.setProperty(OneDnn.HELPERS_DISABLE_PROPERTY, String.valueOf(!helpers));
        if (threads > 0) {
            int inForce = ComputeThreads.bind(threads);
            if (inForce != threads) {
                System.err.printf(Locale.ROOT, "--threads %d: this JVM allows at most %d (OMP_NUM_THREADS or cores at start); "
                        + "measuring with %d%n", threads, ComputeThreads.processLimit(), inForce);
            }
        }
        InputShape shape = InputShape.parse(input);
        ComputationGraph graph = ModelRegistry.build(model, ModelOptions.of(10, shape)
                .withUpdater(Optimizer.NESTEROV.updater(0.01), 0).withLayout(layout));
        graph = switch (norm) {
            case "batch" -> BatchNormSwap.toSync(graph, false);
            case "sync-batch" -> BatchNormSwap.toSync(graph);
            case "dl4j-batch" -> graph;
            default -> throw new IllegalArgumentException("--norm: expected batch, sync-batch or dl4j-batch, got " + norm);
        };
        graph = ConvolutionSwap.apply(graph, conv);
        int direct = ConvolutionSwap.countDnnl(graph.getConfiguration());
        ReplicaTrainer.useCacheMode(graph, cacheMode);
        LeanUpdaterBlock.install(graph); // as a replica trains
        Nd4j.getRandom().setSeed(1);
        INDArray features = Nd4j.rand(DataType.FLOAT, batchSize, shape.channels(), shape.height(), shape.width());
        INDArray labels = Nd4j.zeros(DataType.FLOAT, batchSize, 10);
        for (int i = 0; i < batchSize; i++) {
            labels.putScalar(i, i % 10, 1f);
        }
        DataSet batch = new DataSet(features, labels);
        for (int i = 0; i < warmupSteps; i++) {
            TrainingBatches.fit(graph, batch);
        }
        double[] millis = new double[steps];
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        long cpuStart = os.getProcessCpuTime();
        for (int i = 0; i < steps; i++) {
            long t = System.nanoTime();
            TrainingBatches.fit(graph, batch);
            millis[i] = (System.nanoTime() - t) / 1e6;
        }
        // CPU time is what a step costs when other processes share the cores (wall time then grows with
        // their load); it includes JIT, GC and OpenMP workers spinning while they wait.
        double cpuMillisPerStep = (os.getProcessCpuTime() - cpuStart) / 1e6 / steps;
        Arrays.sort(millis);
        double median = millis[steps / 2];
        System.out.printf(Locale.ROOT, "model %s, input %s, batch %d, norm %s, layout %s, conv %s (%d on OneDNN directly), cache mode %s, threads %d (%s), OneDNN helpers %s (%s)%n",
                model, shape, batchSize, norm, layout.cliName(), conv.cliName(), direct, cacheMode.name().toLowerCase(Locale.ROOT), ComputeThreads.inForce(), ComputeThreads.describe(), helpers ? "requested on" : "off", OneDnn.probe().detail());
        System.out.printf(Locale.ROOT, "step time over %d steps: median %.1f ms, p10 %.1f ms, p90 %.1f ms; %.1f images/s; "
                + "process CPU %.1f ms per step%n", steps, median, millis[steps / 10], millis[(steps * 9) / 10],
                batchSize * 1000 / median, cpuMillisPerStep);
        return 0;
    }
}
