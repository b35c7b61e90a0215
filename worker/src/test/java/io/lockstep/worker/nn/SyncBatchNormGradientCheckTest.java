package io.lockstep.worker.nn;

import io.lockstep.worker.testing.ThreadCollectives;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.List;
import java.util.Set;

import static io.lockstep.worker.nn.BatchNormTestSupport.assertClose;
import static io.lockstep.worker.nn.BatchNormTestSupport.standaloneLayer;
import static io.lockstep.worker.nn.BatchNormTestSupport.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Numerical gradient checks of the sync layer, in double precision. */
class SyncBatchNormGradientCheckTest {
    private DataType previousDefault;
    private DataType previousFloatingPoint;

    @BeforeEach
    void useDouble() {
        previousDefault = Nd4j.dataType();
        previousFloatingPoint = Nd4j.defaultFloatingPointType();
        Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }

    @AfterEach
    void restoreDefaults() {
        Nd4j.setDefaultDataTypes(previousDefault, previousFloatingPoint);
    }

    /**
     * DL4J's GradientCheckUtil on a graph with a rank-4 and a rank-2 sync BatchNorm (one affine with
     * log10-std running variance, one with locked γ/β and a {@code var} running variance), unattached
     * and attached to a 1-rank group (a subset of parameters: the code path is the same). Running
     * statistics are excluded: their "gradients" are updates.
     */
    @Test
    void graphGradientsMatchFiniteDifferences() throws Exception {
        ComputationGraphConfiguration plain = new NeuralNetConfiguration.Builder()
                .seed(3).dataType(DataType.DOUBLE).updater(new NoOp()).weightInit(WeightInit.XAVIER)
                .graphBuilder()
                .addInputs("in")
                .setInputTypes(InputType.convolutional(4, 4, 2))
                .addLayer("conv", new ConvolutionLayer.Builder(2, 2).nOut(2).activation(Activation.IDENTITY).build(), "in")
                .addLayer("bn1", new BatchNormalization.Builder().activation(Activation.TANH).build(), "conv")
                .addLayer("dense", new DenseLayer.Builder().nOut(3).activation(Activation.IDENTITY).build(), "bn1")
                .addLayer("bn2", new BatchNormalization.Builder().useLogStd(false).lockGammaBeta(true).gamma(1.3).beta(0.2)
                        .activation(Activation.TANH).build(), "dense")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3)
                        .activation(Activation.SOFTMAX).build(), "bn2")
                .setOutputs("out")
                .build();
        ComputationGraphConfiguration sync = BatchNormSwap.toSync(plain);
        Nd4j.getRandom().setSeed(17);
        INDArray features = Nd4j.rand(DataType.DOUBLE, 6, 2, 4, 4).muli(3).subi(1);
        INDArray labels = Nd4j.zeros(DataType.DOUBLE, 6, 3);
        for (int i = 0; i < 6; i++) {
            labels.putScalar(i, i % 3, 1.0);
        }
        Set<String> runningStatistics = Set.of("bn1_mean", "bn1_log10stdev", "bn2_mean", "bn2_var");

        ComputationGraph unattached = new ComputationGraph(sync);
        unattached.init();
        assertEquals(2, SyncBatchNorms.layers(unattached).size());
        assertTrue(check(unattached, features, labels, runningStatistics, false), "unattached sync BN gradient check");

        List<Boolean> attached = ThreadCollectives.create(1, 30_000).runOnAllRanks(120_000, collective -> {
            ComputationGraph graph = new ComputationGraph(ComputationGraphConfiguration.fromJson(sync.toJson()));
            graph.init();
            SyncBatchNorms.attach(graph, collective);
            return check(graph, features, labels, runningStatistics, true);
        });
        assertTrue(attached.get(0), "sync BN attached to a 1-rank group: gradient check");
    }

    private static boolean check(ComputationGraph graph, INDArray features, INDArray labels, Set<String> exclude,
                                 boolean subset) {
        return GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig().net(graph).subset(subset).maxPerParam(8)
                .print(GradientCheckUtil.PrintMode.FAILURES_ONLY)
                .inputs(new INDArray[] {features}).labels(new INDArray[] {labels})
                .epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(1e-9).excludeParams(exclude));
    }

    /**
     * Finite differences ACROSS replicas: 2 ranks hold 3 and 2 examples; the loss is
     * L = Σ_ranks Σ w·y for fixed random weights w. Perturbing one input value of one rank changes the
     * global statistics, hence every rank's output; the analytic dL/dx (the backward with epsilon = w)
     * and Σ_ranks dγ must match the central differences of L.
     */
    @Test
    void distributedBackwardMatchesFiniteDifferencesOfTheGlobalLoss() throws Exception {
        int channels = 2;
        BatchNormalization conf = new BatchNormalization.Builder().nIn(channels).nOut(channels).build();
        SyncBatchNormalization syncConf = SyncBatchNormalization.from(conf);
        Nd4j.getRandom().setSeed(23);
        INDArray initial = SyncBatchNormalizationLayerTest.randomInitialParams(conf, DataType.DOUBLE);
        int[] batches = {3, 2};
        INDArray[] inputs = new INDArray[batches.length];
        INDArray[] weights = new INDArray[batches.length];
        for (int r = 0; r < batches.length; r++) {
            inputs[r] = Nd4j.randn(DataType.DOUBLE, batches[r], channels, 2, 2).muli(1.5).addi(0.7);
            weights[r] = Nd4j.randn(DataType.DOUBLE, batches[r], channels, 2, 2);
        }
        // Probes: (rank, flat index into that rank's input) or γ entries (rank −1, channel).
        int[][] probes = {{0, 0}, {0, 7}, {0, 23}, {1, 2}, {1, 15}, {-1, 0}, {-1, 1}};
        double h = 1e-6;

        List<double[][]> perRank = ThreadCollectives.create(batches.length, 30_000).runOnAllRanks(120_000, collective -> {
            int rank = collective.rank();
            LayerWorkspaceMgr workspaces = LayerWorkspaceMgr.noWorkspaces();
            SyncBatchNormalizationLayer layer = (SyncBatchNormalizationLayer) standaloneLayer(syncConf, DataType.DOUBLE, initial);
            layer.attach(collective);
            layer.setInput(inputs[rank].dup(), workspaces);
            layer.activate(true, workspaces);
            Pair<Gradient, INDArray> back = layer.backpropGradient(weights[rank], workspaces);
            double[] dx = values(back.getSecond());
            double[] dGamma = values(back.getFirst().getGradientFor(BatchNormalizationParamInitializer.GAMMA));

            double[] lossPlus = new double[probes.length];
            double[] lossMinus = new double[probes.length];
            INDArray gamma = layer.getParam(BatchNormalizationParamInitializer.GAMMA);
            for (int p = 0; p < probes.length; p++) {
                for (int sign : new int[] {+1, -1}) {
                    INDArray x = inputs[rank].dup();
                    double gammaBefore = probes[p][0] == -1 ? gamma.getDouble(probes[p][1]) : 0;
                    if (probes[p][0] == rank) {
                        INDArray flat = x.reshape(x.length());
                        flat.putScalar(probes[p][1], flat.getDouble(probes[p][1]) + sign * h);
                    } else if (probes[p][0] == -1) {
                        gamma.putScalar(probes[p][1], gammaBefore + sign * h);
                    }
                    layer.setInput(x, workspaces);
                    double loss = layer.activate(true, workspaces).mul(weights[rank]).sumNumber().doubleValue();
                    layer.backpropGradient(weights[rank], workspaces); // keeps forward/backward paired on every rank
                    if (probes[p][0] == -1) {
                        gamma.putScalar(probes[p][1], gammaBefore);
                    }
                    (sign > 0 ? lossPlus : lossMinus)[p] = loss;
                }
            }
            return new double[][] {dx, dGamma, lossPlus, lossMinus};
        });

        double[] numerical = new double[probes.length];
        double[] analytic = new double[probes.length];
        for (int p = 0; p < probes.length; p++) {
            double plus = 0;
            double minus = 0;
            for (double[][] rank : perRank) {
                plus += rank[2][p];
                minus += rank[3][p];
            }
            numerical[p] = (plus - minus) / (2 * h);
            if (probes[p][0] >= 0) {
                analytic[p] = perRank.get(probes[p][0])[0][probes[p][1]];
            } else {
                analytic[p] = perRank.get(0)[1][probes[p][1]] + perRank.get(1)[1][probes[p][1]];
            }
        }
        assertClose("analytic vs central differences of the global loss", numerical, analytic, 1e-6);
    }
}
