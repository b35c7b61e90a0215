import io.lockstep.models.*;
import io.lockstep.worker.nn.*;
import io.lockstep.worker.train.*;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import java.util.*;

public class Diag {
    public static void main(String[] a) {
        System.setProperty(OneDnn.HELPERS_DISABLE_PROPERTY, "false");
        ComputeThreads.bind(2);
        ComputationGraph g = AbProbe.build(ActivationLayout.valueOf(a[0]));
        g.setListeners(new BaseTrainingListener() {
            @Override public void onForwardPass(Model model, Map<String, INDArray> act) {
                for (Map.Entry<String, INDArray> e : act.entrySet()) {
                    INDArray x = e.getValue();
                    if (x == null) continue;
                    System.out.printf("%-28s %s order=%c view=%b ews=%d strides=%s%n", e.getKey(), Arrays.toString(x.shape()), x.ordering(), x.isView(), x.elementWiseStride(), Arrays.toString(x.stride()));
                }
            }
        });
        Nd4j.getRandom().setSeed(1);
        INDArray f = Nd4j.rand(DataType.FLOAT, 64, 1, 28, 28);
        INDArray l = Nd4j.zeros(DataType.FLOAT, 64, 10);
        for (int i = 0; i < 64; i++) l.putScalar(i, i % 10, 1f);
        TrainingBatches.fit(g, new DataSet(f, l));
        System.exit(0);
    }
}
