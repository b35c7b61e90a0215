package io.lockstep.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.worker.train.CheckpointStore;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.api.OptimizationAlgorithm;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fine-tuning options on the caller's network. {@code --freeze}: the frozen layers (a convolution and its BatchNorm, running statistics included) end
 * bit-identical to where they started, with Nesterov momentum and weight decay on; the BatchNorm does not
 * communicate; only the trainable parameters are exchanged; and 2 replicas x B still equal 1 replica x 2B.
 */
class TransferLearningTest {
    private static final int CLASSES = 3;
    private static final double TOLERANCE = 1e-5;
    private static final ObjectMapper JSON = new ObjectMapper();

    private static JavaSparkContext sc;

    @TempDir
    Path dir;

    @BeforeAll
    static void startSpark() {
        sc = new JavaSparkContext(new SparkConf().setMaster("local[2]").setAppName("freeze-test")
                .set("spark.ui.enabled", "false").set("spark.scheduler.minRegisteredResourcesRatio", "1.0"));
    }

    @AfterAll
    static void stopSpark() {
        sc.close();
    }

    /** 96 examples of 1x8x8 images, 3 classes. */
    private static JavaRDD<DataSet> images() {
        Random random = new Random(7);
        List<DataSet> batches = new ArrayList<>();
        for (int start = 0; start < 96; start += 12) {
            INDArray features = Nd4j.create(12, 1, 8, 8);
            INDArray labels = Nd4j.zeros(12, CLASSES);
            for (int i = 0; i < 12; i++) {
                int label = random.nextInt(CLASSES);
                labels.putScalar(i, label, 1);
                for (int p = 0; p < 64; p++) {
                    features.putScalar(i * 64L + p, random.nextGaussian() * 0.5 + (p % CLASSES == label ? 1 : 0));
                }
            }
            batches.add(new DataSet(features, labels));
        }
        return sc.parallelize(batches, 2);
    }

    private static ComputationGraph graph() {
        ComputationGraph graph = new ComputationGraph(new NeuralNetConfiguration.Builder().seed(3)
                .updater(new Nesterovs(0.05, 0.9)).weightDecay(1e-3).optimizationAlgo(OptimizationAlgorithm.STOCHASTIC_GRADIENT_DESCENT)
                .graphBuilder().addInputs("in")
                .addLayer("conv", new ConvolutionLayer.Builder(3, 3).nOut(4).activation(Activation.IDENTITY).build(), "in")
                .addLayer("bn", new BatchNormalization.Builder().build(), "conv")
                .addLayer("dense", new DenseLayer.Builder().nOut(8).activation(Activation.RELU).build(), "bn")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build(), "dense")
                .setOutputs("out").setInputTypes(InputType.convolutional(8, 8, 1)).build());
        graph.init();
        return graph;
    }

    private TrainOptions options(String name, int replicas, int batch) {
        return TrainOptions.defaults().with(TrainOptions.REPLICAS, replicas).with(TrainOptions.BATCH_SIZE, batch)
                .with(TrainOptions.EPOCHS, 2).with(TrainOptions.SEED, 11L).with(TrainOptions.CHECK_EVERY, 1)
                .with(TrainOptions.FREEZE, "bn").with(TrainOptions.OUT, dir.resolve(name).toString());
    }

    private List<JsonNode> steps(String name) throws IOException {
        List<JsonNode> steps = new ArrayList<>();
        for (String line : Files.readAllLines(dir.resolve(name).resolve("metrics.jsonl"))) {
            JsonNode record = JSON.readTree(line);
            if (record.get("type").asText().equals("step")) {
                steps.add(record);
            }
        }
        return steps;
    }

    @Test
    void frozenLayersStayBitIdenticalAndTwoReplicasEqualOneWithTheDoubledBatch() throws IOException {
        ComputationGraph original = graph();
        TrainResult one = Lockstep.on(sc).model(original).options(options("one", 1, 32)).fit(images());
        TrainResult two = Lockstep.on(sc).model(original).options(options("two", 2, 16)).fit(images());
        // Buckets overlapped with backward leave the frozen layers out and change no bit of the result.
        TrainResult overlapped = Lockstep.on(sc).model(original).options(options("overlap", 2, 16)
                .with(TrainOptions.OVERLAP, "on").with(TrainOptions.BUCKET_SIZE, 0.001)).fit(images());
        assertEquals(two.graph().params(), overlapped.graph().params(), "--overlap on equals off, bit for bit");

        for (String frozen : List.of("conv", "bn")) {
            for (TrainResult result : List.of(one, two, overlapped)) {
                assertEquals(original.getVertex(frozen).params(), result.graph().getVertex(frozen).params(),
                        frozen + " (weights and running statistics) is bit-identical to the initial weights");
            }
        }
        double move = 0;
        for (String trained : List.of("dense", "out")) {
            INDArray a = one.graph().getVertex(trained).params();
            INDArray b = two.graph().getVertex(trained).params();
            double difference = a.sub(b).amax().getDouble(0);
            move = Math.max(move, a.sub(original.getVertex(trained).params()).amax().getDouble(0));
            assertTrue(difference < TOLERANCE, trained + ": 2 replicas x 16 vs 1 replica x 32, max |difference| " + difference);
        }
        assertTrue(move > 1e-3, "the unfrozen layers trained: moved " + move);

        long trainable = original.getVertex("dense").numParams() + original.getVertex("out").numParams();
        List<JsonNode> steps = new ArrayList<>(steps("two"));
        steps.addAll(steps("overlap"));
        assertEquals(2 * 2 * 3, steps.size(), "2 runs x 2 epochs x 3 steps");
        for (JsonNode step : steps) {
            // The ring all-reduce of two replicas sends each replica's whole buffer once: 4 bytes per trainable float.
            assertEquals(trainable * Float.BYTES, step.get("bytes_sent_per_replica").asLong(), step.toString());
            assertEquals(0.0, step.get("norm_sync_ms").asDouble(), "the frozen BatchNorm does not communicate: " + step);
        }
    }

    /**
     * conv and bn frozen; from epoch 2 bn trains too, from epoch 3 every layer: the exchanged set grows at
     * those epochs on every replica (each replica reports its bytes; checksums compared every step), and a
     * run resumed in the middle of epoch 2 ends bit for bit where the uninterrupted run ended.
     */
    @Test
    void theUnfreezeScheduleChangesTheTrainedSetAtItsEpochsAndResumesExactly() throws IOException {
        ComputationGraph original = graph();
        TrainOptions options = options("schedule", 2, 16).with(TrainOptions.EPOCHS, 3)
                .with(TrainOptions.UNFREEZE_SCHEDULE, "2:bn,3:all").with(TrainOptions.CHECKPOINT_EVERY, 2)
                .with(TrainOptions.KEEP_CHECKPOINTS, 0);
        TrainResult straight = Lockstep.on(sc).model(original).options(options).fit(images());

        long conv = original.getVertex("conv").numParams();
        long bn = original.getVertex("bn").numParams();
        long head = original.getVertex("dense").numParams() + original.getVertex("out").numParams();
        long[] exchanged = {head, bn + head, conv + bn + head};
        for (JsonNode step : steps("schedule")) {
            int epoch = step.get("epoch").asInt();
            for (JsonNode rank : step.get("ranks")) {
                assertEquals(exchanged[epoch - 1] * Float.BYTES, rank.get("bytes_sent").asLong(), "epoch " + epoch + ": " + rank);
            }
        }
        CheckpointStore store = new CheckpointStore(dir.resolve("schedule").resolve("checkpoints").toString(),
                new org.apache.hadoop.conf.Configuration());
        ComputationGraph afterEpoch1 = store.loadModel(checkpoint(store, 1, 0));
        ComputationGraph afterEpoch2 = store.loadModel(checkpoint(store, 2, 0));
        assertEquals(original.getVertex("bn").params(), afterEpoch1.getVertex("bn").params(), "bn frozen in epoch 1");
        assertNotEquals(original.getVertex("bn").params(), afterEpoch2.getVertex("bn").params(), "bn trains from epoch 2");
        assertEquals(original.getVertex("conv").params(), afterEpoch2.getVertex("conv").params(), "conv frozen until epoch 3");
        assertNotEquals(original.getVertex("conv").params(), straight.graph().getVertex("conv").params(), "conv trains in epoch 3");

        // Resume from the checkpoint in the middle of epoch 2: remove every later one.
        for (CheckpointStore.Checkpoint later : store.list()) {
            if (later.epochsCompleted() > 1 || (later.epochsCompleted() == 1 && later.stepInEpoch() > 2)) {
                org.apache.commons.io.FileUtils.deleteDirectory(new java.io.File(java.net.URI.create(later.path()).getPath()));
            }
        }
        CheckpointStore.Checkpoint middle = store.latest().orElseThrow();
        assertEquals(List.of(1, 2), List.of(middle.epochsCompleted(), middle.stepInEpoch()), "resume from epoch 2, step 2");
        TrainResult resumed = Lockstep.on(sc).model(original).options(options.with(TrainOptions.RESUME, true)).fit(images());
        assertEquals(straight.graph().params(), resumed.graph().params(), "the resumed run ends where the uninterrupted one did");
    }

    private static CheckpointStore.Checkpoint checkpoint(CheckpointStore store, int epochsCompleted, int step) {
        return store.list().stream().filter(c -> c.epochsCompleted() == epochsCompleted && c.stepInEpoch() == step)
                .findFirst().orElseThrow();
    }

    /** One step of Nesterov with weight decay is linear in the rate: a layer at 0.5x moves half as far. */
    @Test
    void layerMultipliersScaleEachLayersStepAtTheScheduledRate() {
        ComputationGraph original = graph();
        TrainOptions base = options("rates", 2, 16).with(TrainOptions.FREEZE, "none").with(TrainOptions.EPOCHS, 1)
                .with(TrainOptions.MAX_STEPS_PER_EPOCH, 1).with(TrainOptions.LR, 0.05).with(TrainOptions.LR_DECAY, "none");
        TrainResult plain = Lockstep.on(sc).model(original).options(base).fit(images());
        TrainResult scaled = Lockstep.on(sc).model(original)
                .options(base.with(TrainOptions.LR_MULTIPLIERS, "conv=0.25,dense=0.5").with(TrainOptions.OUT, dir.resolve("scaled").toString()))
                .fit(images());
        for (String layer : List.of("conv", "dense", "out")) {
            double multiplier = layer.equals("conv") ? 0.25 : layer.equals("dense") ? 0.5 : 1.0;
            INDArray start = original.getVertex(layer).params();
            INDArray expected = plain.graph().getVertex(layer).params().sub(start).muli(multiplier);
            INDArray moved = scaled.graph().getVertex(layer).params().sub(start);
            double difference = moved.sub(expected).amax().getDouble(0);
            assertTrue(difference < 1e-6 * Math.max(1, expected.amax().getDouble(0)) + 1e-7,
                    layer + " moved " + multiplier + "x as far: max |difference| " + difference);
        }
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> Lockstep.on(sc).model(graph())
                .options(base.with(TrainOptions.LR_MULTIPLIERS, "stem=0.1")).fit(images()));
        assertTrue(unknown.getMessage().contains("--lr-multipliers: 'stem' is no layer or stage of this model; stages: conv, bn, dense, out"),
                unknown.getMessage());
    }

    @Test
    void aBoundaryThatIsNoLayerOrThatFreezesTheHeadIsRefusedBeforeTraining() {
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> Lockstep.on(sc).model(graph())
                .options(options("unknown", 2, 16).with(TrainOptions.FREEZE, "stage9")).fit(images()));
        assertTrue(unknown.getMessage().contains("--freeze: 'stage9' is no layer or stage of this model; stages: conv, bn, dense, out"),
                unknown.getMessage());
        IllegalArgumentException head = assertThrows(IllegalArgumentException.class, () -> Lockstep.on(sc).model(graph())
                .options(options("head", 2, 16).with(TrainOptions.FREEZE, "all")).fit(images()));
        assertTrue(head.getMessage().contains("freezes the output layer 'out'"), head.getMessage());
        IllegalArgumentException order = assertThrows(IllegalArgumentException.class, () -> Lockstep.on(sc).model(graph())
                .options(options("order", 2, 16).with(TrainOptions.UNFREEZE_SCHEDULE, "2:conv,2:all")).fit(images()));
        assertTrue(order.getMessage().contains("epoch 2 in '2:all' must be after epoch 2"), order.getMessage());
        IllegalArgumentException beyond = assertThrows(IllegalArgumentException.class, () -> Lockstep.on(sc).model(graph())
                .options(options("beyond", 2, 16).with(TrainOptions.UNFREEZE_SCHEDULE, "3:all")).fit(images()));
        assertTrue(beyond.getMessage().contains("at most --epochs 2"), beyond.getMessage());
    }
}
