package io.lockstep.driver.bench;

import io.lockstep.models.OneDnn;
import io.lockstep.worker.nn.SyncBatchNormalization;
import io.lockstep.worker.train.ComputeThreads;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Collections;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code lockstep bench batchnorm}: one BatchNorm layer's training forward + backward, DL4J's layer (with
 * its OneDNN helper) against Lockstep's, alternating, on resnet20's three activation shapes at batch 64.
 * Reports the best of several rounds in wall time and in the measuring thread's CPU time, which is
 * what to read on a shared machine (with one thread every op runs on that thread).
 */
@Command(name = "batchnorm", mixinStandardHelpOptions = true, showDefaultValues = true,
        description = "Measure one BatchNorm layer's training forward + backward: DL4J's vs Lockstep's.")
public final class BatchNormBenchmark implements Callable<Integer> {
    @Option(names = "--threads", defaultValue = "1", description = "compute threads")
    int threads;

    @Option(names = "--rounds", defaultValue = "8", description = "alternating rounds of 10 passes per layer")
    int rounds;

    @Override
    public Integer call() {
        System.setProperty(OneDnn.HELPERS_DISABLE_PROPERTY, "false");
        int inForce = ComputeThreads.bind(threads);
        System.out.printf(Locale.ROOT, "threads %d (%s)%n", inForce, ComputeThreads.describe());
        ThreadMXBean clock = ManagementFactory.getThreadMXBean();
        long[][] shapes = {{64, 16, 28, 28}, {64, 32, 14, 14}, {64, 64, 7, 7}};
        for (long[] shape : shapes) {
            int channels = (int) shape[1];
            BatchNormalization plain = new BatchNormalization.Builder().nIn(channels).nOut(channels).build();
            Layer[] layers = {layer(plain.clone()), layer(SyncBatchNormalization.from(plain, false))};
            Nd4j.getRandom().setSeed(1);
            INDArray x = Nd4j.randn(DataType.FLOAT, shape);
            INDArray dy = Nd4j.randn(DataType.FLOAT, shape);
            LayerWorkspaceMgr none = LayerWorkspaceMgr.noWorkspaces();
            double[] cpu = {Double.MAX_VALUE, Double.MAX_VALUE};
            double[] wall = {Double.MAX_VALUE, Double.MAX_VALUE};
            for (int round = 0; round < rounds; round++) {
                for (int k = 0; k < 2; k++) {
                    long c0 = clock.getCurrentThreadCpuTime();
                    long w0 = System.nanoTime();
                    for (int i = 0; i < 10; i++) {
                        layers[k].setInput(x, none);
                        layers[k].activate(true, none);
                        layers[k].backpropGradient(dy, none);
                    }
                    cpu[k] = Math.min(cpu[k], (clock.getCurrentThreadCpuTime() - c0) / 1e7);
                    wall[k] = Math.min(wall[k], (System.nanoTime() - w0) / 1e7);
                }
            }
            System.out.printf(Locale.ROOT, "%dx%dx%dx%d forward+backward, best of %d: DL4J (%s) %.2f ms wall, %.2f ms CPU; "
                            + "Lockstep %.2f ms wall, %.2f ms CPU%n", shape[0], shape[1], shape[2], shape[3], rounds,
                    layers[0].getHelper() == null ? "no helper" : layers[0].getHelper().getClass().getSimpleName(),
                    wall[0], cpu[0], wall[1], cpu[1]);
        }
        return 0;
    }

    private static Layer layer(BatchNormalization config) {
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder().dataType(DataType.FLOAT).layer(config).build();
        long n = conf.getLayer().initializer().numParams(conf);
        Layer layer = conf.getLayer().instantiate(conf, Collections.emptyList(), 0, Nd4j.create(DataType.FLOAT, 1, n), true,
                DataType.FLOAT);
        layer.setBackpropGradientsViewArray(Nd4j.create(DataType.FLOAT, 1, n));
        return layer;
    }
}
