package io.lockstep.api.ml;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.Params;
import org.apache.spark.sql.SparkSession;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The Spark ML metadata of a saved stage ({@code path/metadata}): one JSON line
 * {@code {"class", "timestamp", "sparkVersion", "uid", "paramMap", "defaultParamMap"}}, each param value
 * encoded by its own {@code Param.jsonEncode}, exactly as Spark's {@code DefaultParamsWriter} writes it.
 *
 * <p>Why Lockstep writes and reads this itself rather than calling Spark's {@code DefaultParamsWriter.saveMetadata}
 * and {@code DefaultParamsReader.loadMetadata}: those helpers take a {@code SparkContext} in Spark 3.5 and a
 * {@code SparkSession} in Spark 4 (where the {@code SparkContext} forms are deprecated), so no single call
 * compiles against both lines without deprecated API or reflection. The format itself is the same in both
 * lines, and is small: owning it keeps one source for both builds, lets a model saved under Spark 3.5 load
 * under Spark 4 and back, and leaves the files readable by Spark's own reader on either line.
 *
 * <p>Written as {@code metadata/part-00000} plus {@code _SUCCESS} (the layout of Spark 3.5's writer). Read from
 * whatever layout either line wrote: a directory of text part files (Spark 3.5's {@code part-00000}, Spark 4's
 * {@code part-00000-<uuid>-c000.txt}) or a single file.
 */
final class SparkMlMetadata {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String path;
    private final String uid;
    private final Map<String, JsonNode> paramMap;
    private final Map<String, JsonNode> defaultParamMap;

    private SparkMlMetadata(String path, String uid, Map<String, JsonNode> paramMap, Map<String, JsonNode> defaultParamMap) {
        this.path = path;
        this.uid = uid;
        this.paramMap = paramMap;
        this.defaultParamMap = defaultParamMap;
    }

    /** Writes {@code instance}'s class, uid and params (set and default) to {@code path/metadata}. */
    static void save(Params instance, String path, SparkSession spark) throws IOException {
        ObjectNode metadata = JSON.createObjectNode();
        metadata.put("class", instance.getClass().getName());
        metadata.put("timestamp", System.currentTimeMillis());
        metadata.put("sparkVersion", spark.version());
        metadata.put("uid", instance.uid());
        ObjectNode set = metadata.putObject("paramMap");
        ObjectNode defaults = metadata.putObject("defaultParamMap");
        for (Param<?> param : instance.params()) {
            @SuppressWarnings("unchecked")
            Param<Object> p = (Param<Object>) param;
            if (instance.isSet(p)) {
                set.set(p.name(), JSON.readTree(p.jsonEncode(instance.get(p).get())));
            }
            if (instance.hasDefault(p)) {
                defaults.set(p.name(), JSON.readTree(p.jsonEncode(instance.getDefault(p).get())));
            }
        }
        Path dir = new Path(path, "metadata");
        FileSystem fs = dir.getFileSystem(spark.sparkContext().hadoopConfiguration());
        try (FSDataOutputStream out = fs.create(new Path(dir, "part-00000"), false)) {
            out.write((JSON.writeValueAsString(metadata) + "\n").getBytes(StandardCharsets.UTF_8));
        }
        fs.create(new Path(dir, "_SUCCESS"), false).close();
    }

    /**
     * Reads {@code path/metadata} and checks it describes a {@code expected}; the error names the path and
     * what it holds instead.
     */
    static SparkMlMetadata load(String path, SparkSession spark, Class<?> expected) throws IOException {
        Path location = new Path(path, "metadata");
        FileSystem fs = location.getFileSystem(spark.sparkContext().hadoopConfiguration());
        if (!fs.exists(location)) {
            throw new IllegalArgumentException(path + " holds no Spark ML metadata (" + location
                    + " is missing); give the directory a " + expected.getSimpleName() + " was saved to");
        }
        String line = firstLine(fs, location);
        JsonNode metadata;
        try {
            metadata = JSON.readTree(line == null ? "" : line);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(location + " is not Spark ML metadata (not JSON: "
                    + e.getOriginalMessage() + ")", e);
        }
        if (metadata == null || !metadata.isObject() || !metadata.path("uid").isTextual()) {
            throw new IllegalArgumentException(location + " is not Spark ML metadata (no JSON object with a uid)");
        }
        String className = metadata.path("class").asText();
        if (!className.equals(expected.getName())) {
            throw new IllegalArgumentException(path + " holds a saved " + className + ", not a " + expected.getName()
                    + "; load it with that class's load(path)");
        }
        return new SparkMlMetadata(location.toString(), metadata.get("uid").asText(),
                fields(metadata.path("paramMap")), fields(metadata.path("defaultParamMap")));
    }

    private static String firstLine(FileSystem fs, Path location) throws IOException {
        FileStatus[] files = fs.getFileStatus(location).isDirectory()
                ? fs.listStatus(location, p -> !p.getName().startsWith("_") && !p.getName().startsWith("."))
                : new FileStatus[]{fs.getFileStatus(location)};
        Arrays.sort(files, Comparator.comparing(f -> f.getPath().getName()));
        for (FileStatus file : files) {
            if (file.isFile() && file.getLen() > 0) {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(fs.open(file.getPath()), StandardCharsets.UTF_8))) {
                    return in.readLine();
                }
            }
        }
        return null;
    }

    private static Map<String, JsonNode> fields(JsonNode object) {
        Map<String, JsonNode> fields = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : object.properties()) {
            fields.put(field.getKey(), field.getValue());
        }
        return fields;
    }

    String uid() {
        return uid;
    }

    /**
     * The saved value of each param {@code instance} has, set ({@link Setter#set}) or default
     * ({@link Setter#setDefault}); like Spark's reader, a saved param the class does not know is an error.
     * The setter is the instance's own, because {@code Params.setDefault} is protected.
     */
    void applyTo(Params instance, Setter setter) {
        for (Map.Entry<String, JsonNode> saved : defaultParamMap.entrySet()) {
            Param<Object> param = param(instance, saved.getKey());
            setter.setDefault(param, param.jsonDecode(saved.getValue().toString()));
        }
        for (Map.Entry<String, JsonNode> saved : paramMap.entrySet()) {
            Param<Object> param = param(instance, saved.getKey());
            setter.set(param, param.jsonDecode(saved.getValue().toString()));
        }
    }

    @SuppressWarnings("unchecked")
    private Param<Object> param(Params instance, String name) {
        if (!instance.hasParam(name)) {
            throw new IllegalArgumentException(path + " sets a param '" + name + "' that "
                    + instance.getClass().getSimpleName() + " does not have; it was saved by another version of it");
        }
        return (Param<Object>) instance.getParam(name);
    }

    /** How a stage takes back a saved param value. */
    interface Setter {
        void set(Param<Object> param, Object value);

        void setDefault(Param<Object> param, Object value);
    }
}
