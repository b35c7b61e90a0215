import io.lockstep.worker.nn.DnnlConvolution;
import io.lockstep.worker.train.ComputeThreads;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import java.lang.management.*;
import java.util.*;

/** ReLU (+ its input copy, as DL4J's ActivationLayer does) on an array just written by OneDNN's NHWC convolution vs on a copy of it just written by ND4J. */
public class NtProbe {
    public static void main(String[] a) {
        ComputeThreads.bind(2);
        ThreadMXBean clock = ManagementFactory.getThreadMXBean();
        ConvolutionLayer plain = new ConvolutionLayer.Builder(3, 3).nIn(16).nOut(16).stride(1, 1).padding(1, 1)
                .convolutionMode(ConvolutionMode.Truncate).hasBias(false).activation(Activation.IDENTITY).dataFormat(CNN2DFormat.NHWC).build();
        NeuralNetConfiguration conf = new NeuralNetConfiguration.Builder().seed(5).dataType(DataType.FLOAT).layer(DnnlConvolution.from(plain)).build();
        long n = conf.getLayer().initializer().numParams(conf);
        Layer layer = conf.getLayer().instantiate(conf, Collections.emptyList(), 0, Nd4j.create(DataType.FLOAT, 1, n), true, DataType.FLOAT);
        layer.setBackpropGradientsViewArray(Nd4j.create(DataType.FLOAT, 1, n));
        INDArray x = Nd4j.randn(DataType.FLOAT, 64, 28, 28, 16);
        LayerWorkspaceMgr none = LayerWorkspaceMgr.noWorkspaces();
        int rounds = Integer.parseInt(a[0]);
        double[][] t = new double[2][rounds];
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < 2; k++) {
                layer.setInput(x, none);
                INDArray z = layer.activate(true, none);
                if (k == 1) z = z.dup('c');
                long c0 = System.nanoTime();
                INDArray in = z.dup('c');
                Nd4j.getExecutioner().exec(new org.nd4j.linalg.api.ops.impl.scalar.RectifiedLinear(in, 0.0));
                t[k][r] = (System.nanoTime() - c0) / 1e6;
            }
        }
        for (int k = 0; k < 2; k++) { double[] y = t[k].clone(); Arrays.sort(y);
            System.out.printf(Locale.ROOT, "%s: copy + ReLU of 64x28x28x16, wall median %.2f ms, min %.2f ms%n", k == 0 ? "just written by OneDNN conv" : "just written by ND4J dup   ", y[rounds / 2], y[0]); }
        System.exit(0);
    }
}
