package io.lockstep.api.ml;

import org.apache.spark.ml.feature.Binarizer;
import org.apache.spark.ml.param.Param;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Lockstep's Spark ML metadata is Spark's own format, on whichever Spark line this is built for:
 * Spark's reader loads what Lockstep writes, and Lockstep reads what Spark's writer writes (a Spark 4
 * directory holds {@code part-00000-<uuid>-c000.txt}, a Spark 3.5 one {@code part-00000}). A stage of
 * Spark's own with a double, a string and an array param stands in for any stage.
 */
class SparkMlMetadataTest {
    private static SparkSession spark;

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[1]").appName("spark-ml-metadata-test")
                .config("spark.ui.enabled", "false").getOrCreate();
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    private static Binarizer binarizer() {
        return new Binarizer("binarizer_5e1d").setInputCol("pixels").setOutputCol("ink").setThreshold(0.25);
    }

    @Test
    void sparksReaderLoadsWhatLockstepWrites(@TempDir Path dir) throws Exception {
        Binarizer saved = binarizer();
        SparkMlMetadata.save(saved, dir.toString(), spark);

        Binarizer loaded = Binarizer.load(dir.toString());
        assertEquals("binarizer_5e1d", loaded.uid());
        assertEquals(0.25, loaded.getThreshold());
        assertEquals(saved.explainParams(), loaded.explainParams(), "every param, set and default");
    }

    @Test
    void lockstepReadsWhatSparksWriterWrites(@TempDir Path dir) throws Exception {
        Binarizer saved = binarizer();
        saved.write().overwrite().save(dir.toString());

        SparkMlMetadata metadata = SparkMlMetadata.load(dir.toString(), spark, Binarizer.class);
        Binarizer loaded = new Binarizer(metadata.uid());
        Map<String, Object> defaults = new HashMap<>();
        metadata.applyTo(loaded, new SparkMlMetadata.Setter() {
            @Override
            public void set(Param<Object> param, Object value) {
                loaded.set(param, value);
            }

            @Override
            public void setDefault(Param<Object> param, Object value) {
                defaults.put(param.name(), value);
            }
        });
        assertEquals("binarizer_5e1d", loaded.uid());
        assertEquals(saved.explainParams(), loaded.explainParams());
        assertEquals(saved.getDefault(saved.threshold()).get(), defaults.get("threshold"));
    }

    @Test
    void badMetadataIsNamedWithTheFix(@TempDir Path dir) throws Exception {
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> SparkMlMetadata.load(dir.resolve("nothing").toString(), spark, Binarizer.class));
        assertTrue(missing.getMessage().contains("holds no Spark ML metadata"), missing.getMessage());

        Path binarizer = dir.resolve("binarizer");
        SparkMlMetadata.save(binarizer(), binarizer.toString(), spark);
        IllegalArgumentException otherClass = assertThrows(IllegalArgumentException.class,
                () -> LockstepClassificationModel.load(binarizer.toString()));
        assertTrue(otherClass.getMessage().contains("holds a saved org.apache.spark.ml.feature.Binarizer, not a "
                + LockstepClassificationModel.class.getName()), otherClass.getMessage());

        Path unknown = dir.resolve("unknown");
        Files.createDirectories(unknown.resolve("metadata"));
        Files.writeString(unknown.resolve("metadata").resolve("part-00000"), "{\"class\":\"" + Binarizer.class.getName()
                + "\",\"uid\":\"b\",\"paramMap\":{\"threshhold\":0.5},\"defaultParamMap\":{}}\n");
        IllegalArgumentException param = assertThrows(IllegalArgumentException.class,
                () -> SparkMlMetadata.load(unknown.toString(), spark, Binarizer.class).applyTo(new Binarizer("b"), null));
        assertTrue(param.getMessage().contains("sets a param 'threshhold' that Binarizer does not have"), param.getMessage());

        Files.writeString(unknown.resolve("metadata").resolve("part-00000"), "model v1\n");
        IllegalArgumentException notJson = assertThrows(IllegalArgumentException.class,
                () -> SparkMlMetadata.load(unknown.toString(), spark, Binarizer.class));
        assertTrue(notJson.getMessage().contains("is not Spark ML metadata"), notJson.getMessage());
    }
}
