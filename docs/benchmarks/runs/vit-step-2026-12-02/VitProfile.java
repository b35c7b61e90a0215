import io.lockstep.models.*;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.profiler.OpProfiler;
import org.nd4j.linalg.profiler.ProfilerConfig;
import java.util.*;

/** Per-layer forward/backward time of vit_small and an ND4J op profile. Scratch harness. */
public class VitProfile {
    public static void main(String[] a) {
        int batch = 64;
        ComputationGraph g = ModelRegistry.build("vit_small", ModelOptions.of(10, InputShape.parse("1x28x28")).withUpdater(new Nesterovs(0.01, 0.9), 0));
        Nd4j.getRandom().setSeed(1);
        INDArray f = Nd4j.rand(DataType.FLOAT, batch, 1, 28, 28);
        INDArray l = Nd4j.zeros(DataType.FLOAT, batch, 10);
        for (int i = 0; i < batch; i++) l.putScalar(i, i % 10, 1f);
        DataSet ds = new DataSet(f, l);
        for (int i = 0; i < 3; i++) g.fit(ds);
        // per-layer timing on isolated calls
        Map<String, INDArray> acts = g.feedForward(new INDArray[]{f}, true, false);
        Map<String, double[]> perType = new TreeMap<>();
        for (String name : new String[]{"conv_proj", "embedding", "encoder_layer_0_ln_1", "encoder_layer_0_self_attention", "encoder_layer_0_ln_2", "encoder_layer_0_mlp", "encoder_ln", "class_token_features"}) {
            Layer layer = g.getLayer(name);
            String in = g.getConfiguration().getVertexInputs().get(name).get(0);
            INDArray x = acts.get(in);
            LayerWorkspaceMgr ws = LayerWorkspaceMgr.noWorkspaces();
            double fwd = 1e9, bwd = 1e9;
            for (int r = 0; r < 5; r++) {
                layer.setInput(x.dup(), ws);
                long t = System.nanoTime();
                INDArray out = layer.activate(true, ws);
                fwd = Math.min(fwd, (System.nanoTime() - t) / 1e6);
                INDArray eps = Nd4j.rand(out.dataType(), out.shape());
                t = System.nanoTime();
                layer.backpropGradient(eps, ws);
                bwd = Math.min(bwd, (System.nanoTime() - t) / 1e6);
            }
            System.out.printf(Locale.ROOT, "%-34s fwd %8.1f ms  bwd %8.1f ms%n", name, fwd, bwd);
        }
        if (a.length > 0 && a[0].equals("ops")) {
            Nd4j.getExecutioner().setProfilingConfig(ProfilerConfig.builder().checkElapsedTime(true).build());
            OpProfiler.getInstance().reset();
            for (int i = 0; i < 2; i++) g.fit(ds);
            OpProfiler.getInstance().printOutDashboard();
        }
        long t = System.nanoTime();
        int steps = 5;
        Nd4j.getExecutioner().setProfilingConfig(ProfilerConfig.builder().build());
        double[] ms = new double[steps];
        for (int i = 0; i < steps; i++) { long s = System.nanoTime(); g.fit(ds); ms[i] = (System.nanoTime() - s) / 1e6; }
        Arrays.sort(ms);
        System.out.printf(Locale.ROOT, "full step median %.1f ms (min %.1f)%n", ms[steps / 2], ms[0]);
        System.exit(0);
    }
}
