package io.lockstep.driver.bench;

import io.lockstep.worker.train.ComputeThreads;
import org.bytedeco.dnnl.IntMemoryMap;
import org.bytedeco.dnnl.convolution_backward_data;
import org.bytedeco.dnnl.convolution_backward_weights;
import org.bytedeco.dnnl.convolution_forward;
import org.bytedeco.dnnl.engine;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.primitive;
import org.bytedeco.dnnl.reorder;
import org.bytedeco.dnnl.stream;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DIFF_WEIGHTS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;

/**
 * {@code lockstep bench conv}: one training call of each convolution shape of resnet20 (1×28×28) and
 * resnet18 (3×32×32) — forward, backward-data and backward-weights, batch 64, no bias — through
 * (a) libnd4j's {@code conv2d}/{@code conv2d_bp} ops, which is what DL4J's OneDNN helper calls (OneDNN
 * inside nd4j-native, primitives from {@code any} layouts, activations converted on every call),
 * (b) OneDNN called directly through its own bindings with the caller's layout forced on the
 * activations (NCHW or NHWC; weights converted from OIHW to OneDNN's pick), primitives created once per shape, and
 * (c) the same with {@code any} layouts and reorders created once, timed apart so the layouts' cost
 * shows ("primitives only" is what a network kept in OneDNN's layouts between layers would pay).
 * Paths alternate within each round; prints the median per call in wall time and in process CPU time.
 */
@Command(name = "conv", mixinStandardHelpOptions = true, showDefaultValues = true,
        description = "Measure convolution training calls: DL4J's OneDNN helper path vs OneDNN called directly.")
public final class ConvBenchmark implements Callable<Integer> {
    @Option(names = "--model", defaultValue = "resnet20,resnet18", split = ",", description = "resnet20 (1x28x28) and/or resnet18 (3x32x32)")
    List<String> models;

    @Option(names = "--threads", defaultValue = "2", description = "compute threads")
    int threads;

    @Option(names = "--batch-size", defaultValue = "64")
    int batch;

    @Option(names = "--rounds", defaultValue = "5", description = "alternating rounds; the median is reported")
    int rounds;

    @Option(names = "--passes", defaultValue = "2", description = "calls per path per round")
    int passes;

    @Option(names = "--paths", defaultValue = "nd4j-nchw,nd4j-nhwc,dnnl-nchw,dnnl-nhwc,dnnl-any", split = ",",
            description = "nd4j-nchw, nd4j-nhwc (libnd4j's ops as DL4J's helper calls them), dnnl-nchw, dnnl-nhwc "
                    + "(direct, activation layout forced), dnnl-any (direct, OneDNN's layouts + reorders)")
    List<String> paths;

    /** One convolution of a network: channels, square kernel, stride, padding, input size, how many per step. */
    record Conv(int in, int out, int kernel, int stride, int pad, int size, int count) {
        int outSize() {
            return (size + 2 * pad - kernel) / stride + 1;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%d->%d k%d s%d %dx%d x%d", in, out, kernel, stride, size, size, count);
        }
    }

    static final Map<String, List<Conv>> NETWORKS = Map.of(
            "resnet20", List.of(new Conv(1, 16, 3, 1, 1, 28, 1), new Conv(16, 16, 3, 1, 1, 28, 6),
                    new Conv(16, 32, 3, 2, 1, 28, 1), new Conv(32, 32, 3, 1, 1, 14, 5),
                    new Conv(32, 64, 3, 2, 1, 14, 1), new Conv(64, 64, 3, 1, 1, 7, 5)),
            "resnet18", List.of(new Conv(3, 64, 3, 1, 1, 32, 1), new Conv(64, 64, 3, 1, 1, 32, 4),
                    new Conv(64, 128, 3, 2, 1, 32, 1), new Conv(128, 128, 3, 1, 1, 16, 3), new Conv(64, 128, 1, 2, 0, 32, 1),
                    new Conv(128, 256, 3, 2, 1, 16, 1), new Conv(256, 256, 3, 1, 1, 8, 3), new Conv(128, 256, 1, 2, 0, 16, 1),
                    new Conv(256, 512, 3, 2, 1, 8, 1), new Conv(512, 512, 3, 1, 1, 4, 3), new Conv(256, 512, 1, 2, 0, 8, 1)));

    /** A way of computing one training call; results in NCHW / OIHW for comparison. */
    interface Impl {
        void run();

        INDArray[] results();

        /** Time spent in layout conversions during the last run, in ns (0 if none). */
        default long reorderNanos() {
            return 0;
        }

        default String detail() {
            return "";
        }
    }

    @Override
    public Integer call() throws IOException {
        int inForce = ComputeThreads.bind(threads);
        System.out.printf(Locale.ROOT, "threads %d (%s)%n", inForce, ComputeThreads.describe());
        engine eng = new engine(engine.kind.cpu, 0);
        stream strm = new stream(eng);
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        System.out.println("OpenMP / OneDNN libraries mapped: " + mappedLibraries());
        for (String model : models) {
            List<Conv> convs = NETWORKS.get(model);
            if (convs == null) {
                throw new IllegalArgumentException("--model: expected resnet20 or resnet18, got " + model);
            }
            Map<String, double[]> stepWall = new LinkedHashMap<>();
            Map<String, double[]> stepCpu = new LinkedHashMap<>();
            for (Conv conv : convs) {
                Nd4j.getRandom().setSeed(1);
                INDArray x = Nd4j.randn(DataType.FLOAT, batch, conv.in, conv.size, conv.size);
                INDArray w = Nd4j.randn(DataType.FLOAT, conv.out, conv.in, conv.kernel, conv.kernel).muli(0.1);
                INDArray dy = Nd4j.randn(DataType.FLOAT, batch, conv.out, conv.outSize(), conv.outSize());
                Map<String, Impl> impls = new LinkedHashMap<>();
                for (String path : paths) {
                    impls.put(path, switch (path) {
                        case "nd4j-nchw" -> new Nd4jOps(conv, x, w, dy, false);
                        case "nd4j-nhwc" -> new Nd4jOps(conv, x, w, dy, true);
                        case "dnnl-nchw" -> new DnnlForced(conv, x, w, dy, false, eng, strm);
                        case "dnnl-nhwc" -> new DnnlForced(conv, x, w, dy, true, eng, strm);
                        case "dnnl-any" -> new DnnlAny(conv, x, w, dy, eng, strm);
                        default -> throw new IllegalArgumentException("--paths: unknown path " + path);
                    });
                }
                INDArray[] reference = null;
                StringBuilder agreement = new StringBuilder();
                for (Map.Entry<String, Impl> e : impls.entrySet()) {
                    e.getValue().run();
                    e.getValue().run();
                    INDArray[] r = e.getValue().results();
                    if (reference == null) {
                        reference = new INDArray[]{r[0].dup(), r[1].dup(), r[2].dup()};
                    } else {
                        agreement.append(String.format(Locale.ROOT, " %s %.1e/%.1e/%.1e", e.getKey(), relDiff(reference[0], r[0]),
                                relDiff(reference[1], r[1]), relDiff(reference[2], r[2])));
                    }
                }
                Map<String, double[]> wall = new LinkedHashMap<>();
                Map<String, double[]> cpu = new LinkedHashMap<>();
                Map<String, double[]> reorder = new LinkedHashMap<>();
                for (String path : impls.keySet()) {
                    wall.put(path, new double[rounds]);
                    cpu.put(path, new double[rounds]);
                    reorder.put(path, new double[rounds]);
                }
                for (int round = 0; round < rounds; round++) {
                    for (Map.Entry<String, Impl> e : impls.entrySet()) {
                        long c0 = os.getProcessCpuTime();
                        long w0 = System.nanoTime();
                        long reorders = 0;
                        for (int i = 0; i < passes; i++) {
                            e.getValue().run();
                            reorders += e.getValue().reorderNanos();
                        }
                        wall.get(e.getKey())[round] = (System.nanoTime() - w0) / 1e6 / passes;
                        cpu.get(e.getKey())[round] = (os.getProcessCpuTime() - c0) / 1e6 / passes;
                        reorder.get(e.getKey())[round] = reorders / 1e6 / passes;
                    }
                }
                StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%s %-22s", model, conv));
                for (String path : impls.keySet()) {
                    double mw = median(wall.get(path));
                    double mc = median(cpu.get(path));
                    double mr = median(reorder.get(path));
                    line.append(String.format(Locale.ROOT, " | %s %.2f ms (CPU %.2f)", path, mw, mc));
                    stepWall.computeIfAbsent(path, k -> new double[1])[0] += mw * conv.count;
                    stepCpu.computeIfAbsent(path, k -> new double[1])[0] += mc * conv.count;
                    if (mr > 0) {
                        line.append(String.format(Locale.ROOT, " [reorders %.2f, primitives %.2f]", mr, mw - mr));
                        stepWall.computeIfAbsent(path + " primitives only", k -> new double[1])[0] += (mw - mr) * conv.count;
                    }
                }
                System.out.println(line);
                StringBuilder kernels = new StringBuilder();
                for (Map.Entry<String, Impl> e : impls.entrySet()) {
                    if (!e.getValue().detail().isEmpty()) {
                        kernels.append(" ").append(e.getKey()).append(": ").append(e.getValue().detail());
                    }
                }
                System.out.println("    max |diff|/max |ref| of y/dx/dw vs " + impls.keySet().iterator().next() + ":" + agreement
                        + "; kernels" + kernels);
            }
            StringBuilder total = new StringBuilder(String.format(Locale.ROOT, "%s: all %d convolution calls of one step "
                    + "(forward + backward-data + backward-weights each), sum of medians:", model,
                    convs.stream().mapToInt(Conv::count).sum()));
            for (Map.Entry<String, double[]> e : stepWall.entrySet()) {
                double[] c = stepCpu.get(e.getKey());
                total.append(String.format(Locale.ROOT, " | %s %.1f ms", e.getKey(), e.getValue()[0]));
                if (c != null) {
                    total.append(String.format(Locale.ROOT, " (CPU %.1f)", c[0]));
                }
            }
            System.out.println(total);
        }
        return 0;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    private static double relDiff(INDArray reference, INDArray other) {
        return reference.sub(other).amaxNumber().doubleValue() / Math.max(1e-30, reference.amaxNumber().doubleValue());
    }

    /** Which OpenMP runtimes and OneDNN copies this process has loaded: two OpenMP runtimes would each keep their own pool. */
    private static String mappedLibraries() throws IOException {
        TreeSet<String> libs = new TreeSet<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
            int slash = line.indexOf('/');
            if (slash < 0) {
                continue;
            }
            String file = line.substring(slash);
            String name = file.substring(file.lastIndexOf('/') + 1);
            if (name.contains("omp") || name.contains("dnnl") || name.contains("nd4j")) {
                libs.add(file);
            }
        }
        return String.join(", ", libs);
    }

    private static long[] nhwcShape(INDArray nchw) {
        return new long[]{nchw.size(0), nchw.size(2), nchw.size(3), nchw.size(1)};
    }

    /** libnd4j's conv2d and conv2d_bp ops with the integer arguments DL4J's MKLDNNConvHelper passes. */
    static final class Nd4jOps implements Impl {
        private final INDArray x;
        private final INDArray w;
        private final INDArray dy;
        private final INDArray y;
        private final INDArray dx;
        private final INDArray dw;
        private final boolean nhwc;
        private final int[] args;

        Nd4jOps(Conv conv, INDArray x, INDArray w, INDArray dy, boolean nhwc) {
            this.nhwc = nhwc;
            this.x = nhwc ? x.permute(0, 2, 3, 1).dup('c') : x;
            this.dy = nhwc ? dy.permute(0, 2, 3, 1).dup('c') : dy;
            this.w = w;
            this.y = Nd4j.create(DataType.FLOAT, nhwc ? nhwcShape(dy) : dy.shape());
            this.dx = Nd4j.create(DataType.FLOAT, this.x.shape());
            this.dw = Nd4j.create(DataType.FLOAT, w.shape());
            // kH, kW, sH, sW, pH, pW, dH, dW, same mode, NHWC, weight format 1 = [oC, iC, kH, kW]
            this.args = new int[]{conv.kernel, conv.kernel, conv.stride, conv.stride, conv.pad, conv.pad, 1, 1, 0, nhwc ? 1 : 0, 1};
        }

        @Override
        public void run() {
            Nd4j.exec(DynamicCustomOp.builder("conv2d").addInputs(x, w).addOutputs(y).addIntegerArguments(args).build());
            Nd4j.exec(DynamicCustomOp.builder("conv2d_bp").addInputs(x, w, dy).addOutputs(dx, dw).addIntegerArguments(args).build());
        }

        @Override
        public INDArray[] results() {
            return nhwc ? new INDArray[]{y.permute(0, 3, 1, 2), dx.permute(0, 3, 1, 2), dw} : new INDArray[]{y, dx, dw};
        }
    }

    private static memory.desc desc(long[] dims, memory.format_tag tag) {
        return new memory.desc(dims, memory.data_type.f32, tag);
    }

    private static long[] dims(INDArray nchwOrOihw) {
        return nchwOrOihw.shape().clone();
    }

    /**
     * OneDNN called directly: the three training primitives of one convolution, created once, and the
     * steps to run them in order, layout conversions ({@code reorder}) among them, timed apart.
     */
    abstract static class DnnlPath implements Impl {
        final INDArray y;
        final INDArray dx;
        final INDArray dw;
        private final stream strm;
        private final List<Step> steps = new ArrayList<>();
        private String detail = "";
        private long lastReorderNanos;

        /** A primitive with its arguments, or (args null) a reorder from one memory to another. */
        private record Step(primitive prim, IntMemoryMap args, memory from, memory to) {
        }

        DnnlPath(INDArray y, INDArray dx, INDArray dw, stream strm) {
            this.y = y;
            this.dx = dx;
            this.dw = dw;
            this.strm = strm;
        }

        /** Forward-training, backward-data and backward-weights descriptors over the given memory descriptors. */
        record Primitives(convolution_forward.primitive_desc fwd, convolution_backward_data.primitive_desc bwdData,
                          convolution_backward_weights.primitive_desc bwdWeights) {
            static Primitives of(Conv conv, org.bytedeco.dnnl.global.dnnl.algorithm algorithm, memory.desc src,
                                 memory.desc weights, memory.desc dst, engine eng) {
                long[] strides = {conv.stride, conv.stride};
                long[] pad = {conv.pad, conv.pad};
                convolution_forward.primitive_desc fwd = new convolution_forward.primitive_desc(new convolution_forward.desc(
                        org.bytedeco.dnnl.global.dnnl.prop_kind.forward_training, algorithm, src, weights, dst, strides, pad, pad), eng);
                return new Primitives(fwd,
                        new convolution_backward_data.primitive_desc(
                                new convolution_backward_data.desc(algorithm, src, weights, dst, strides, pad, pad), eng, fwd),
                        new convolution_backward_weights.primitive_desc(
                                new convolution_backward_weights.desc(algorithm, src, weights, dst, strides, pad, pad), eng, fwd));
            }

            String implementations() {
                return fwd.impl_info_str().getString() + "/" + bwdData.impl_info_str().getString() + "/"
                        + bwdWeights.impl_info_str().getString();
            }
        }

        static memory wrap(memory.desc desc, engine eng, INDArray array) {
            return new memory(desc, eng, array.data().addressPointer());
        }

        final void add(primitive prim, IntMemoryMap args) {
            steps.add(new Step(prim, args, null, null));
        }

        /** {@code user} itself when it already has the layout {@code wanted}, else a copy converted before each run. */
        final memory reorderIn(memory user, memory.desc wanted, engine eng) {
            if (user.get_desc().equals(wanted)) {
                return user;
            }
            memory inner = new memory(wanted, eng);
            reorder(user, inner);
            return inner;
        }

        final void reorder(memory from, memory to) {
            steps.add(new Step(new reorder(from, to), null, from, to));
        }

        final void describe(Primitives primitives) {
            detail = primitives.implementations();
        }

        @Override
        public void run() {
            long reorders = 0;
            for (Step step : steps) {
                long t = System.nanoTime();
                if (step.args == null) {
                    ((reorder) step.prim).execute(strm, step.from, step.to);
                } else {
                    step.prim.execute(strm, step.args);
                }
                strm._wait();
                if (step.args == null) {
                    reorders += System.nanoTime() - t;
                }
            }
            lastReorderNanos = reorders;
        }

        @Override
        public long reorderNanos() {
            return lastReorderNanos;
        }

        @Override
        public String detail() {
            return detail;
        }
    }

    /**
     * OneDNN called directly with the activations (input, output and their gradients) in the caller's
     * layout, never converted. Weights are left to OneDNN ({@code any}): with plain OIHW weights forced
     * too, OneDNN 2.5 finds only its reference kernels for NHWC. The weights (a few KB to 9 MB, once per
     * step in a training loop) are converted on every call here, and counted as reorders.
     */
    static final class DnnlForced extends DnnlPath {
        private final boolean nhwc;

        DnnlForced(Conv conv, INDArray x0, INDArray w, INDArray dy0, boolean nhwc, engine eng, stream strm) {
            super(Nd4j.create(DataType.FLOAT, nhwc ? nhwcShape(dy0) : dy0.shape()),
                    Nd4j.create(DataType.FLOAT, nhwc ? nhwcShape(x0) : x0.shape()), Nd4j.create(DataType.FLOAT, w.shape()), strm);
            this.nhwc = nhwc;
            INDArray x = nhwc ? x0.permute(0, 2, 3, 1).dup('c') : x0;
            INDArray dy = nhwc ? dy0.permute(0, 2, 3, 1).dup('c') : dy0;
            memory.format_tag act = nhwc ? memory.format_tag.nhwc : memory.format_tag.nchw;
            memory.desc srcMd = desc(dims(x0), act);
            memory.desc dstMd = desc(dims(dy0), act);
            memory.desc wUser = desc(dims(w), memory.format_tag.oihw);
            Primitives p = Primitives.of(conv, org.bytedeco.dnnl.global.dnnl.algorithm.convolution_direct, srcMd,
                    desc(dims(w), memory.format_tag.any), dstMd, eng);
            memory xm = wrap(srcMd, eng, x);
            memory wm = wrap(wUser, eng, w);
            memory dym = wrap(dstMd, eng, dy);
            memory dwm = wrap(wUser, eng, dw);
            memory fw = reorderIn(wm, p.fwd().weights_desc(), eng);
            add(new convolution_forward(p.fwd()),
                    new IntMemoryMap().put(DNNL_ARG_SRC, xm).put(DNNL_ARG_WEIGHTS, fw).put(DNNL_ARG_DST, wrap(dstMd, eng, y)));
            memory bw = reorderIn(wm, p.bwdData().weights_desc(), eng);
            add(new convolution_backward_data(p.bwdData()),
                    new IntMemoryMap().put(DNNL_ARG_DIFF_DST, dym).put(DNNL_ARG_WEIGHTS, bw).put(DNNL_ARG_DIFF_SRC, wrap(srcMd, eng, dx)));
            memory wdw = p.bwdWeights().diff_weights_desc().equals(wUser) ? dwm : new memory(p.bwdWeights().diff_weights_desc(), eng);
            add(new convolution_backward_weights(p.bwdWeights()),
                    new IntMemoryMap().put(DNNL_ARG_SRC, xm).put(DNNL_ARG_DIFF_DST, dym).put(DNNL_ARG_DIFF_WEIGHTS, wdw));
            if (wdw != dwm) {
                reorder(wdw, dwm);
            }
            describe(p);
        }

        @Override
        public INDArray[] results() {
            return nhwc ? new INDArray[]{y.permute(0, 3, 1, 2), dx.permute(0, 3, 1, 2), dw} : new INDArray[]{y, dx, dw};
        }
    }

    /**
     * OneDNN called directly with {@code any} layouts (its own pick, as DL4J's helper asks) and reorders from
     * and to NCHW / OIHW created once: what the helper's conversions cost without its per-call glue.
     */
    static final class DnnlAny extends DnnlPath {
        DnnlAny(Conv conv, INDArray x, INDArray w, INDArray dy, engine eng, stream strm) {
            super(Nd4j.create(DataType.FLOAT, dy.shape()), Nd4j.create(DataType.FLOAT, x.shape()),
                    Nd4j.create(DataType.FLOAT, w.shape()), strm);
            memory.desc srcUser = desc(dims(x), memory.format_tag.nchw);
            memory.desc dstUser = desc(dims(dy), memory.format_tag.nchw);
            memory.desc wUser = desc(dims(w), memory.format_tag.oihw);
            Primitives p = Primitives.of(conv, org.bytedeco.dnnl.global.dnnl.algorithm.convolution_auto,
                    desc(dims(x), memory.format_tag.any), desc(dims(w), memory.format_tag.any),
                    desc(dims(dy), memory.format_tag.any), eng);
            memory xm = wrap(srcUser, eng, x);
            memory wm = wrap(wUser, eng, w);
            memory dym = wrap(dstUser, eng, dy);
            // forward
            memory fx = reorderIn(xm, p.fwd().src_desc(), eng);
            memory fw = reorderIn(wm, p.fwd().weights_desc(), eng);
            memory fy = new memory(p.fwd().dst_desc(), eng);
            add(new convolution_forward(p.fwd()), new IntMemoryMap().put(DNNL_ARG_SRC, fx).put(DNNL_ARG_WEIGHTS, fw).put(DNNL_ARG_DST, fy));
            reorder(fy, wrap(dstUser, eng, y));
            // backward data
            memory bdy = reorderIn(dym, p.bwdData().diff_dst_desc(), eng);
            memory bw = reorderIn(wm, p.bwdData().weights_desc(), eng);
            memory bdx = new memory(p.bwdData().diff_src_desc(), eng);
            add(new convolution_backward_data(p.bwdData()),
                    new IntMemoryMap().put(DNNL_ARG_DIFF_DST, bdy).put(DNNL_ARG_WEIGHTS, bw).put(DNNL_ARG_DIFF_SRC, bdx));
            reorder(bdx, wrap(srcUser, eng, dx));
            // backward weights
            memory wx = reorderIn(xm, p.bwdWeights().src_desc(), eng);
            memory wdy = reorderIn(dym, p.bwdWeights().diff_dst_desc(), eng);
            memory wdw = new memory(p.bwdWeights().diff_weights_desc(), eng);
            add(new convolution_backward_weights(p.bwdWeights()),
                    new IntMemoryMap().put(DNNL_ARG_SRC, wx).put(DNNL_ARG_DIFF_DST, wdy).put(DNNL_ARG_DIFF_WEIGHTS, wdw));
            reorder(wdw, wrap(wUser, eng, dw));
            describe(p);
        }

        @Override
        public INDArray[] results() {
            return new INDArray[]{y, dx, dw};
        }
    }
}
