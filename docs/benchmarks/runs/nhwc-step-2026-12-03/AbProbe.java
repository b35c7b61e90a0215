import io.lockstep.models.*;
import io.lockstep.worker.nn.*;
import io.lockstep.worker.train.*;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.scalar.Step;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.MulOp;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import java.lang.management.*;
import java.util.*;
import java.util.concurrent.*;

public class AbProbe {
    static ThreadMXBean tm = ManagementFactory.getThreadMXBean();
    static com.sun.management.OperatingSystemMXBean os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    static String MODEL = "resnet20", INPUT = "1x28x28";
    static ComputationGraph build(ActivationLayout layout) {
        InputShape shape = InputShape.parse(INPUT);
        ComputationGraph g = ModelRegistry.build(MODEL, ModelOptions.of(10, shape).withUpdater(Optimizer.NESTEROV.updater(0.01), 0).withLayout(layout));
        g = BatchNormSwap.toSync(g, false);
        g = ConvolutionSwap.apply(g, ConvolutionKernels.DNNL);
        ReplicaTrainer.useCacheMode(g, CacheMode.DEVICE);
        return g;
    }
    public static void main(String[] a) {
        System.setProperty(OneDnn.HELPERS_DISABLE_PROPERTY, "false");
        ComputeThreads.bind(2);
        int rounds = Integer.parseInt(a[0]); if (a.length > 2) { MODEL = a[1]; INPUT = a[2]; }
        // Each layout trains on a thread of its own (never both at once), so that a profiler's samples
        // split by thread compare the two layouts in the same process and the same minutes.
        ExecutorService[] ex = {Executors.newSingleThreadExecutor(r -> new Thread(r, "nhwc")), Executors.newSingleThreadExecutor(r -> new Thread(r, "nchw"))};
        ActivationLayout[] lays = {ActivationLayout.NHWC, ActivationLayout.NCHW};
        ComputationGraph[] gs = new ComputationGraph[2];
        for (int k = 0; k < 2; k++) { int kk = k; call(ex[k], () -> { ComputeThreads.bind(2); gs[kk] = build(lays[kk]); return null; }); }
        String[] names = {"nhwc+dnnl", "nchw"};
        Nd4j.getRandom().setSeed(1);
        long[] is = Arrays.stream(INPUT.split("x")).mapToLong(Long::parseLong).toArray(); INDArray f = Nd4j.rand(DataType.FLOAT, 64, is[0], is[1], is[2]);
        INDArray l = Nd4j.zeros(DataType.FLOAT, 64, 10);
        for (int i = 0; i < 64; i++) l.putScalar(i, i % 10, 1f);
        DataSet b = new DataSet(f, l);
        INDArray px = Nd4j.randn(DataType.FLOAT, 64, 28, 28, 16), pe = Nd4j.randn(DataType.FLOAT, 64, 28, 28, 16), pd = px.ulike();
        for (int w = 0; w < 3; w++) for (int k = 0; k < 2; k++) { int kk = k; call(ex[k], () -> { TrainingBatches.fit(gs[kk], b); return null; }); }
        double[][] faults = new double[2][rounds]; double[][] wall = new double[2][rounds], cpu = new double[2][rounds], tcpu = new double[2][rounds], probe = new double[2][rounds], probeCpu = new double[2][rounds];
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < 2; k++) {
                int i = (r % 2 == 0) ? k : 1 - k;
                int ii = i, rr = r;
                call(ex[i], () -> {
                long f0 = minflt(); long t0 = System.nanoTime(), c0 = os.getProcessCpuTime(), th0 = tm.getCurrentThreadCpuTime();
                TrainingBatches.fit(gs[ii], b);
                faults[ii][rr] = minflt() - f0;
                wall[ii][rr] = (System.nanoTime() - t0) / 1e6; cpu[ii][rr] = (os.getProcessCpuTime() - c0) / 1e6; tcpu[ii][rr] = (tm.getCurrentThreadCpuTime() - th0) / 1e6;
                t0 = System.nanoTime(); c0 = os.getProcessCpuTime();
                for (int j = 0; j < 20; j++) { Nd4j.getExecutioner().exec(new Step(px, pd, 0.0)); Nd4j.getExecutioner().exec(new MulOp(pd, pe, pd)); }
                probe[ii][rr] = (System.nanoTime() - t0) / 1e6; probeCpu[ii][rr] = (os.getProcessCpuTime() - c0) / 1e6;
                return null; });
            }
        }
        for (int i = 0; i < 2; i++) {
            System.out.printf(Locale.ROOT, "%-10s minor page faults per step med %.0f | step wall med %.0f min %.0f | process CPU med %.0f min %.0f | main-thread CPU med %.0f min %.0f | probe(20x step+mul 64x28x28x16) wall med %.1f min %.1f cpu med %.0f%n",
                names[i], med(faults[i]), med(wall[i]), min(wall[i]), med(cpu[i]), min(cpu[i]), med(tcpu[i]), min(tcpu[i]), med(probe[i]), min(probe[i]), med(probeCpu[i]));
        }
        System.exit(0);
    }
    static void call(ExecutorService e, Callable<Void> c) {
        try { e.submit(c).get(1, TimeUnit.HOURS); } catch (Exception x) { throw new IllegalStateException(x); }
    }
    static long minflt() {
        try { String st = new String(java.nio.file.Files.readAllBytes(java.nio.file.Paths.get("/proc/self/stat")));
            String[] f = st.substring(st.lastIndexOf(')') + 2).split(" "); return Long.parseLong(f[7]); } catch (Exception e) { throw new IllegalStateException(e); }
    }
    static double med(double[] x) { double[] y = x.clone(); Arrays.sort(y); return y[y.length / 2]; }
    static double min(double[] x) { return Arrays.stream(x).min().getAsDouble(); }
}
