import io.lockstep.models.OneDnn;
import io.lockstep.worker.nn.SyncBatchNormalization;
import io.lockstep.worker.train.ComputeThreads;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import java.lang.management.*;
import java.util.*;

/** Lockstep's BatchNorm layer, training forward + backward, NCHW vs NHWC, resnet20's shapes at batch 64; best-of thread CPU. */
public class BnProbe {
    public static void main(String[] a) {
        System.setProperty(OneDnn.HELPERS_DISABLE_PROPERTY, "false");
        int threads = Integer.parseInt(a[0]), rounds = Integer.parseInt(a[1]);
        ComputeThreads.bind(threads);
        ThreadMXBean clock = ManagementFactory.getThreadMXBean();
        long[][] shapes = {{64, 16, 28, 28}, {64, 32, 14, 14}, {64, 64, 7, 7}};
        for (long[] s : shapes) {
            int c = (int) s[1];
            Layer[] layers = {layer(c, CNN2DFormat.NCHW), layer(c, CNN2DFormat.NHWC)};
            Nd4j.getRandom().setSeed(1);
            INDArray[] xs = {Nd4j.randn(DataType.FLOAT, s), Nd4j.randn(DataType.FLOAT, s[0], s[2], s[3], s[1])};
            INDArray[] dys = {Nd4j.randn(DataType.FLOAT, s), Nd4j.randn(DataType.FLOAT, s[0], s[2], s[3], s[1])};
            LayerWorkspaceMgr none = LayerWorkspaceMgr.noWorkspaces();
            double[] cpu = {1e9, 1e9}, wall = {1e9, 1e9};
            for (int r = 0; r < rounds; r++) for (int k = 0; k < 2; k++) {
                long c0 = clock.getCurrentThreadCpuTime(), w0 = System.nanoTime();
                for (int i = 0; i < 10; i++) { layers[k].setInput(xs[k], none); layers[k].activate(true, none); layers[k].backpropGradient(dys[k], none); }
                cpu[k] = Math.min(cpu[k], (clock.getCurrentThreadCpuTime() - c0) / 1e7);
                wall[k] = Math.min(wall[k], (System.nanoTime() - w0) / 1e7);
            }
            System.out.printf(Locale.ROOT, "%dx%dx%dx%d fwd+bwd, %d thread(s), best of %d: NCHW %.2f ms wall %.2f ms CPU(main thread); NHWC %.2f ms wall %.2f ms CPU(main thread)%n",
                    s[0], s[1], s[2], s[3], threads, rounds, wall[0], cpu[0], wall[1], cpu[1]);
        }
        System.exit(0);
    }
    static Layer layer(int c, CNN2DFormat f) {
        BatchNormalization plain = new BatchNormalization.Builder().nIn(c).nOut(c).dataFormat(f).build();
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).layer(SyncBatchNormalization.from(plain, false)).build();
        long n = conf.getLayer().initializer().numParams(conf);
        Layer layer = conf.getLayer().instantiate(conf, Collections.emptyList(), 0, Nd4j.create(DataType.FLOAT, 1, n), true, DataType.FLOAT);
        layer.setBackpropGradientsViewArray(Nd4j.create(DataType.FLOAT, 1, n));
        return layer;
    }
}
