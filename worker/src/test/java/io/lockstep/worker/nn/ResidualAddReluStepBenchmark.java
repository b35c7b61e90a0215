package io.lockstep.worker.nn;

import io.lockstep.models.ActivationLayout;
import io.lockstep.models.InputShape;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.models.TrainingBatches;
import io.lockstep.models.layers.AddThenRelu;
import io.lockstep.worker.train.ComputeThreads;
import io.lockstep.worker.train.ReplicaTrainer;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Nesterovs;

import java.util.Arrays;
import java.util.Locale;

/**
 * resnet20's training step with the fused residual sum and ReLU against the same network with DL4J's add
 * vertex and a ReLU layer, both in one JVM, alternating blocks of steps so that other processes' load
 * falls on both alike. Set up as {@code lockstep bench step --layout nhwc --conv dnnl --norm batch}.
 *
 * <p>Usage: {@code ResidualAddReluStepBenchmark [rounds] [steps per block] [threads] [warm-up steps]}.
 */
public final class ResidualAddReluStepBenchmark {
    private ResidualAddReluStepBenchmark() {
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        int block = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : 2;
        int warmup = args.length > 3 ? Integer.parseInt(args[3]) : 20;
        ComputeThreads.bind(threads);
        InputShape shape = InputShape.parse("1x28x28");
        ComputationGraph built = ModelRegistry.build("resnet20", ModelOptions.of(10, shape)
                .withUpdater(new Nesterovs(0.01, 0.9), 0).withLayout(ActivationLayout.NHWC));
        ComputationGraph fused = prepare(built.clone());
        ComputationGraph pair = prepare(AddThenRelu.of(built));
        Nd4j.getRandom().setSeed(1);
        INDArray features = Nd4j.rand(DataType.FLOAT, 64, shape.channels(), shape.height(), shape.width());
        INDArray labels = Nd4j.zeros(DataType.FLOAT, 64, 10);
        for (int i = 0; i < 64; i++) {
            labels.putScalar(i, i % 10, 1f);
        }
        DataSet batch = new DataSet(features, labels);
        for (int i = 0; i < warmup; i++) {
            TrainingBatches.fit(pair, batch);
            TrainingBatches.fit(fused, batch);
        }
        double[] fusedMs = new double[rounds * block];
        double[] pairMs = new double[rounds * block];
        double[] ratios = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            // Alternate which goes first, so neither always follows the other's workspace use.
            boolean fusedFirst = r % 2 == 1;
            double[] first = steps(fusedFirst ? fused : pair, batch, block);
            double[] second = steps(fusedFirst ? pair : fused, batch, block);
            double[] f = fusedFirst ? first : second;
            double[] p = fusedFirst ? second : first;
            System.arraycopy(f, 0, fusedMs, r * block, block);
            System.arraycopy(p, 0, pairMs, r * block, block);
            ratios[r] = median(f) / median(p);
            System.out.printf(Locale.ROOT, "round %d: add+relu median %.1f ms, fused %.1f ms, ratio %.3f%n", r, median(p), median(f), ratios[r]);
        }
        System.out.printf(Locale.ROOT, "resnet20 1x28x28 batch 64 NHWC dnnl, %d threads, %d rounds of %d steps each%n", threads, rounds, block);
        System.out.printf(Locale.ROOT, "add vertex + ReLU layer: median %.1f ms, p10 %.1f ms%n", median(pairMs), percentile(pairMs, 10));
        System.out.printf(Locale.ROOT, "fused vertex:            median %.1f ms, p10 %.1f ms%n", median(fusedMs), percentile(fusedMs, 10));
        System.out.printf(Locale.ROOT, "fused / add+relu: median of per-round ratios %.3f%n", median(ratios));
    }

    private static ComputationGraph prepare(ComputationGraph graph) {
        ComputationGraph prepared = ConvolutionSwap.apply(BatchNormSwap.toSync(graph, false), ConvolutionKernels.parse("dnnl"));
        ReplicaTrainer.useCacheMode(prepared, CacheMode.DEVICE);
        return prepared;
    }

    private static double[] steps(ComputationGraph graph, DataSet batch, int count) {
        double[] ms = new double[count];
        for (int i = 0; i < count; i++) {
            long t = System.nanoTime();
            TrainingBatches.fit(graph, batch);
            ms[i] = (System.nanoTime() - t) / 1e6;
        }
        return ms;
    }

    private static double median(double[] values) {
        return percentile(values, 50);
    }

    private static double percentile(double[] values, int p) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[Math.min(sorted.length - 1, sorted.length * p / 100)];
    }
}
