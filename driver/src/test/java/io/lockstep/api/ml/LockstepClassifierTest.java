package io.lockstep.api.ml;

import io.lockstep.driver.data.DatasetSource;
import io.lockstep.driver.data.LoadedDataset;
import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.ImageBatchDecoder;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.RecordFormat;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.feature.StringIndexer;
import org.apache.spark.ml.image.ImageSchema;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Spark ML: a Pipeline(StringIndexer, LockstepClassifier) fits a DataFrame of images (Spark's image
 * struct) with 2 replicas, is saved and loaded, and its predictions on the test split equal the
 * network's own output in this JVM.
 */
class LockstepClassifierTest {
    private static final Path SUBSET = Path.of("..", "data", "fashion-mnist-small").toAbsolutePath().normalize();

    private static Dataset<Row> images(SparkSession spark, List<LabeledRecord> records, List<String> classNames, String split) {
        StructType schema = new StructType().add("image", ImageSchema.columnSchema()).add("name", DataTypes.StringType);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < records.size(); i++) {
            LabeledRecord record = records.get(i);
            // One grey channel: Spark's interleaved pixels and Lockstep's planar pixels are the same bytes.
            Row image = RowFactory.create(split + ":" + i, 28, 28, 1, 0, record.payload());
            rows.add(RowFactory.create(image, classNames.get(record.label())));
        }
        return spark.createDataFrame(rows, schema);
    }

    /**
     * The saved model stage, its metadata laid out as each Spark line writes a stage's metadata (Spark 3.5:
     * {@code part-00000}; Spark 4: {@code part-00000-<uuid>-c000.txt}, with checksum files), loads with the
     * same uid, params and network whichever line this build is for.
     */
    private static void loadsAsTheOtherSparkLineWroteIt(Path dir, LockstepClassificationModel model) throws Exception {
        Path stage;
        try (Stream<Path> stages = Files.list(dir.resolve("pipeline").resolve("stages"))) {
            stage = stages.filter(p -> p.getFileName().toString().startsWith("1_")).findFirst().orElseThrow();
        }
        String json = Files.readAllLines(stage.resolve("metadata").resolve("part-00000")).get(0);
        Map<String, String> layouts = Map.of(
                "3.5.9", "part-00000",
                "4.2.0", "part-00000-6f1c2a4e-0d3b-4c8e-9a57-1e2f3a4b5c6d-c000.txt");
        for (Map.Entry<String, String> layout : layouts.entrySet()) {
            Path copy = dir.resolve("spark-" + layout.getKey());
            Files.createDirectories(copy.resolve("metadata"));
            Files.createDirectories(copy.resolve("lockstep"));
            Files.copy(stage.resolve("lockstep").resolve("model.zip"), copy.resolve("lockstep").resolve("model.zip"));
            Files.writeString(copy.resolve("metadata").resolve(layout.getValue()),
                    json.replaceFirst("\"sparkVersion\":\"[^\"]*\"", "\"sparkVersion\":\"" + layout.getKey() + "\"") + "\n");
            Files.writeString(copy.resolve("metadata").resolve("." + layout.getValue() + ".crc"), "not metadata");
            Files.writeString(copy.resolve("metadata").resolve("_SUCCESS"), "");

            LockstepClassificationModel other = LockstepClassificationModel.load(copy.toString());
            assertEquals(model.uid(), other.uid(), layout.getKey());
            assertEquals(model.explainParams(), other.explainParams(), layout.getKey());
            assertEquals(model.classNames(), other.classNames(), layout.getKey());
            assertEquals(model.graph().params(), other.graph().params(), layout.getKey());
        }
    }

    @Test
    void pipelineFitsSavesLoadsAndPredictsLikeTheNetworkItself(@TempDir Path dir) throws Exception {
        LoadedDataset data = DatasetSource.open(SUBSET.toString(), new Configuration());
        List<LabeledRecord> train = data.train().subList(0, 256);
        List<LabeledRecord> test = data.test().subList(0, 120);
        SparkSession spark = SparkSession.builder().master("local[2]").appName("spark-ml-test")
                .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate();
        try {
            Dataset<Row> trainFrame = images(spark, train, data.classNames(), "train");
            Dataset<Row> testFrame = images(spark, test, data.classNames(), "test");
            LockstepClassifier classifier = new LockstepClassifier().setModel("lenet5").setReplicas(2).setEpochs(1)
                    .setBatchSize(16).setLearningRate(0.01).setSeed(3).setOutputDir(dir.resolve("run").toString());
            Pipeline pipeline = new Pipeline().setStages(new PipelineStage[]{
                    new StringIndexer().setInputCol("name").setOutputCol("label").setHandleInvalid("keep"), classifier});

            PipelineModel fitted = pipeline.fit(trainFrame);
            fitted.write().overwrite().save(dir.resolve("pipeline").toString());
            PipelineModel loaded = PipelineModel.load(dir.resolve("pipeline").toString());
            List<Row> predicted = loaded.transform(testFrame).select("image.origin", "prediction", "probability").collectAsList();
            assertEquals(test.size(), predicted.size());

            LockstepClassificationModel model = (LockstepClassificationModel) loaded.stages()[1];
            ComputationGraph graph = model.graph();
            ImageBatchDecoder decoder = new ImageBatchDecoder(RecordFormat.raw(1, 28, 28), model.imageTransform(),
                    model.classNames().size(), BadRecordPolicy.FAIL);
            INDArray expected = graph.outputSingle(false, decoder.decode(test, false, 0, 0, 0, -1).getFeatures());
            for (Row row : predicted) {
                int i = Integer.parseInt(row.getString(0).substring("test:".length()));
                assertEquals(expected.getRow(i).argMax().getInt(0), (int) row.getDouble(1), "image " + i);
                Vector probabilities = (Vector) row.get(2);
                for (int c = 0; c < model.classNames().size(); c++) {
                    assertEquals(expected.getDouble(i, c), probabilities.apply(c), 1e-5, "image " + i + ", class " + c);
                }
            }
            assertTrue(model.classNames().containsAll(data.classNames()), "class names come from the StringIndexer");
            loadsAsTheOtherSparkLineWroteIt(dir, model);

            IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                    () -> classifier.fit(trainFrame.withColumnRenamed("image", "picture")));
            assertTrue(missing.getMessage().contains("no column 'image'"), missing.getMessage());
            assertEquals(3, spark.range(3).count(), "the session is still usable");
        } finally {
            spark.stop();
        }
    }
}
