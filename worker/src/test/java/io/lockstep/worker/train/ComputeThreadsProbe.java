package io.lockstep.worker.train;

import io.lockstep.models.layers.NhwcConvolution;
import io.lockstep.worker.nn.ConvolutionKernels;
import io.lockstep.worker.nn.ConvolutionSwap;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Child JVM of {@link ComputeThreadsTest}: binds the count given as argument the way a replica does,
 * then, on the bound thread and on a {@link Prefetcher}'s producer thread, runs an element-wise op
 * (libnd4j), a convolution (DL4J's OneDNN helper), a matrix product (BLAS) and an NHWC convolution on
 * OneDNN called directly (the presets' copy, which shares ND4J's OpenMP runtime) for a while each and
 * prints, per op, the count in force and how many native threads did the work, one line each:
 * {@code <thread> <op> inForce=<n> busy=<k>}.
 *
 * <p>A native worker thread (OpenMP, OpenBLAS) keeps the process name as its Linux thread name
 * ({@code java}), as does the launcher's main thread; JVM threads (JIT, GC) carry their own names, so
 * the threads watched are those named {@code java} plus the calling thread.
 * A thread counts as busy when it used at least 15 % of the CPU time those threads used together.
 */
public final class ComputeThreadsProbe {
    private static final long RUN_NANOS = 700_000_000L;

    private ComputeThreadsProbe() {
    }

    public static void main(String[] args) throws Exception {
        int threads = Integer.parseInt(args[0]);
        ComputeThreads.bind(threads);
        INDArray x = Nd4j.rand(DataType.FLOAT, 64, 16, 28, 28);
        INDArray m = Nd4j.rand(DataType.FLOAT, 384, 384);
        MultiLayerNetwork conv = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(1).list()
                .layer(new ConvolutionLayer.Builder(3, 3).nOut(32).padding(1, 1).build())
                .layer(new OutputLayer.Builder().nOut(10).build())
                .setInputType(InputType.convolutional(28, 28, 16)).build());
        conv.init();
        System.out.println("helper " + conv.getLayer(0).getHelper());
        INDArray nhwc = Nd4j.rand(DataType.FLOAT, 64, 28, 28, 16);
        ComputationGraph direct = ConvolutionSwap.apply(nhwcConvolution(), ConvolutionKernels.DNNL);
        System.out.println("direct convolutions " + ConvolutionSwap.countDnnl(direct.getConfiguration()));
        probe("task", x, m, conv, nhwc, direct);
        BatchSource source = new BatchSource() {
            @Override
            public int steps() {
                return 1;
            }

            @Override
            public DataSet batch(int step) {
                try {
                    probe("prefetch", x, m, conv, nhwc, direct);
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
                return new DataSet(Nd4j.zeros(1, 1), Nd4j.zeros(1, 1));
            }
        };
        try (Prefetcher prefetcher = new Prefetcher(source, 1, "probe-prefetch")) {
            prefetcher.next(120_000);
        }
        System.exit(0);
    }

    private static void probe(String thread, INDArray x, INDArray m, MultiLayerNetwork conv, INDArray nhwc,
                              ComputationGraph direct) throws IOException {
        measure(thread, "elementwise", () -> Transforms.tanh(x, true));
        measure(thread, "convolution", () -> conv.output(x));
        measure(thread, "matmul", () -> m.mmul(m));
        measure(thread, "dnnlconvolution", () -> direct.outputSingle(nhwc));
    }

    /** An NHWC convolution, to run on OneDNN called directly (its own copy, loaded beside ND4J's). */
    private static ComputationGraph nhwcConvolution() {
        ComputationGraph graph = new ComputationGraph(new NeuralNetConfiguration.Builder().seed(1).graphBuilder().addInputs("in")
                .setInputTypes(InputType.convolutional(28, 28, 16, CNN2DFormat.NHWC))
                .addLayer("conv", NhwcConvolution.of(new ConvolutionLayer.Builder(3, 3).nOut(32).padding(1, 1)
                        .convolutionMode(ConvolutionMode.Truncate).dataFormat(CNN2DFormat.NHWC)), "in")
                .addLayer("pool", new GlobalPoolingLayer.Builder().build(), "conv")
                .addLayer("out", new OutputLayer.Builder().nOut(10).build(), "pool")
                .setOutputs("out").build());
        graph.init();
        return graph;
    }

    private static void measure(String thread, String op, Runnable work) throws IOException {
        work.run(); // warm-up: thread pools and OneDNN primitives are created here
        Map<String, Long> before = nativeThreadTicks();
        long start = System.nanoTime();
        while (System.nanoTime() - start < RUN_NANOS) {
            work.run();
        }
        Map<String, Long> after = nativeThreadTicks();
        long total = 0;
        Map<String, Long> used = new HashMap<>();
        for (Map.Entry<String, Long> e : after.entrySet()) {
            long delta = e.getValue() - before.getOrDefault(e.getKey(), 0L);
            used.put(e.getKey(), delta);
            total += delta;
        }
        int busy = 0;
        for (long delta : used.values()) {
            if (total > 0 && delta >= 0.15 * total) {
                busy++;
            }
        }
        System.out.printf(Locale.ROOT, "%s %s inForce=%d busy=%d%n", thread, op, ComputeThreads.inForce(), busy);
    }

    /** CPU ticks (user + system) of the calling thread and each thread named {@code java}, by thread id. */
    private static Map<String, Long> nativeThreadTicks() throws IOException {
        Map<String, Long> ticks = new HashMap<>();
        String self = Path.of("/proc/thread-self").toRealPath().getFileName().toString();
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
            for (Path task : tasks) {
                try {
                    boolean own = task.getFileName().toString().equals(self);
                    if (!own && !Files.readString(task.resolve("comm")).trim().equals("java")) {
                        continue;
                    }
                    String stat = Files.readString(task.resolve("stat"));
                    String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    ticks.put(task.getFileName().toString(), Long.parseLong(fields[11]) + Long.parseLong(fields[12]));
                } catch (IOException threadEnded) {
                    // the thread ended between listing and reading: it did no work for us
                }
            }
        }
        return ticks;
    }
}
