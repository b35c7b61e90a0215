package io.lockstep.models.layers;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.graph.vertex.impl.ElementWiseVertex;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.ResetPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * Forward and backward of one residual sum and ReLU, fused ({@link ResidualAddReluVertex}) against DL4J's
 * add vertex followed by Lockstep's ReLU layer, on one tensor (default 64x28x28x16, resnet20's first
 * stage in NHWC), in a workspace as in training. Prints the median of each over alternating rounds.
 *
 * <p>Usage: {@code ResidualAddReluBenchmark [rounds] [iterations per round] [shape...]}.
 */
public final class ResidualAddReluBenchmark {
    private ResidualAddReluBenchmark() {
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        int iterations = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        long[] shape = args.length > 2 ? Arrays.stream(args, 2, args.length).mapToLong(Long::parseLong).toArray()
                : new long[] {64, 28, 28, 16};
        // One workspace for every array, reset each step, as in training: without one, every step's arrays
        // are fresh native memory and page faults dominate both variants.
        WorkspaceConfiguration wsConf = WorkspaceConfiguration.builder().initialSize(0).overallocationLimit(0.05)
                .policyLearning(LearningPolicy.FIRST_LOOP).policyReset(ResetPolicy.BLOCK_LEFT)
                .policySpill(SpillPolicy.REALLOCATE).policyAllocation(AllocationPolicy.OVERALLOCATE).build();
        LayerWorkspaceMgr.Builder builder = LayerWorkspaceMgr.builder();
        for (ArrayType type : ArrayType.values()) {
            builder.with(type, "RESIDUAL_BENCH", wsConf);
        }
        LayerWorkspaceMgr mgr = builder.build();
        Nd4j.getRandom().setSeed(1);
        INDArray a = Nd4j.randn(DataType.FLOAT, shape);
        INDArray b = Nd4j.randn(DataType.FLOAT, shape);
        INDArray epsilon = Nd4j.randn(DataType.FLOAT, shape);

        ResidualAddReluVertex fused = new ResidualAddReluVertex(null, "fused", 0, DataType.FLOAT);
        ElementWiseVertex add = new ElementWiseVertex(null, "add", 0, ElementWiseVertex.Op.Add, DataType.FLOAT);
        NeuralNetConfiguration reluConf = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).build();
        reluConf.setLayer(ReluActivation.relu());
        ReluActivationLayer relu = new ReluActivationLayer(reluConf, DataType.FLOAT);

        Runnable fusedStep = () -> {
            try (MemoryWorkspace ws = mgr.notifyScopeEntered(ArrayType.ACTIVATIONS)) {
            fused.setInputs(new INDArray[] {a, b});
            fused.doForward(true, mgr);
            fused.setEpsilon(epsilon);
            fused.doBackward(false, mgr);
            }
        };
        Runnable pairStep = () -> {
            try (MemoryWorkspace ws = mgr.notifyScopeEntered(ArrayType.ACTIVATIONS)) {
            add.setInputs(new INDArray[] {a, b});
            INDArray sum = add.doForward(true, mgr);
            relu.setInput(sum, mgr);
            relu.activate(true, mgr);
            INDArray gradient = relu.backpropGradient(epsilon, mgr).getSecond();
            add.setEpsilon(gradient);
            add.doBackward(false, mgr);
            }
        };
        double[] fusedMs = new double[rounds];
        double[] pairMs = new double[rounds];
        for (int round = -3; round < rounds; round++) { // three rounds of warm-up
            double f = time(fusedStep, iterations);
            double p = time(pairStep, iterations);
            if (round >= 0) {
                fusedMs[round] = f;
                pairMs[round] = p;
            }
        }
        System.out.printf("shape %s, %d rounds of %d forward+backward, %d ND4J threads%n", Arrays.toString(shape), rounds,
                iterations, Nd4j.getEnvironment().maxThreads());
        System.out.printf("add vertex + ReLU layer: median %.3f ms (min %.3f)%n", median(pairMs), Arrays.stream(pairMs).min().orElse(0));
        System.out.printf("fused vertex:            median %.3f ms (min %.3f)%n", median(fusedMs), Arrays.stream(fusedMs).min().orElse(0));
    }

    private static double time(Runnable step, int iterations) {
        long start = System.nanoTime();
        for (int i = 0; i < iterations; i++) {
            step.run();
        }
        return (System.nanoTime() - start) / 1e6 / iterations;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
