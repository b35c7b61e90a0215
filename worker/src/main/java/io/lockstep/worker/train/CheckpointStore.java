package io.lockstep.worker.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.lockstep.worker.device.HostMemory;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.Deflater;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Checkpoints in a directory of any Hadoop filesystem ({@code file://}, {@code hdfs://}, {@code s3a://}).
 *
 * <p>A checkpoint is a directory {@code checkpoint-EEEEE-SSSSSSSS} (epochs completed, step within the
 * epoch) holding {@code model.zip} (parameters and optimizer state, DL4J's ModelSerializer format) and
 * {@code meta.json}. It is written under a temporary name and renamed into place: the rename is the
 * commit, so a crash mid-write leaves the previous checkpoint intact and the partial directory is
 * ignored by {@link #latest()} and removed by {@link #cleanPartial()}. On object stores without atomic
 * rename (s3a) the same order still guarantees a reader never sees a checkpoint without its meta.json.
 *
 * <p>Thread-safe for concurrent readers; one writer (rank 0) per job.
 */
public final class CheckpointStore {
    private static final Logger LOG = LoggerFactory.getLogger(CheckpointStore.class);
    private static final Pattern NAME = Pattern.compile("checkpoint-(\\d{5})-(\\d{8})");
    private static final String TEMP_PREFIX = "_writing-";
    static final String MODEL = "model.zip";
    static final String META = "meta.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final String uri;
    private final transient Configuration hadoopConf;

    public CheckpointStore(String uri, Configuration hadoopConf) {
        this.uri = uri;
        this.hadoopConf = hadoopConf;
    }

    public String uri() {
        return uri;
    }

    /** A complete checkpoint on storage. */
    public record Checkpoint(String path, int epochsCompleted, int stepInEpoch) {
    }

    private FileSystem fs() throws IOException {
        return FileSystem.get(URI.create(uri), hadoopConf);
    }

    /** Writes a checkpoint atomically and returns it; keeps only the newest {@code keep} (0: all). */
    public Checkpoint save(ComputationGraph graph, CheckpointMeta meta, int keep) {
        return save(graph, meta, keep, List.of());
    }

    /**
     * Writes a checkpoint atomically with each replica's exchange-strategy state ({@code
     * exchangeStates.get(rank)}, empty maps are skipped) in the same directory, so the rename commits
     * them together with the model.
     */
    public Checkpoint save(ComputationGraph graph, CheckpointMeta meta, int keep, List<Map<String, float[]>> exchangeStates) {
        String name = String.format("checkpoint-%05d-%08d", meta.epochsCompleted(), meta.stepInEpoch());
        Path dir = new Path(uri);
        Path temp = new Path(dir, TEMP_PREFIX + name + "-" + UUID.randomUUID());
        Path target = new Path(dir, name);
        try {
            FileSystem fs = fs();
            fs.mkdirs(dir);
            try (FSDataOutputStream out = fs.create(new Path(temp, MODEL), false)) {
                HostMemory.beforeHostRead(graph);
                writeUncompressed(graph, out);
            }
            for (int rank = 0; rank < exchangeStates.size(); rank++) {
                if (!exchangeStates.get(rank).isEmpty()) {
                    try (FSDataOutputStream out = fs.create(new Path(temp, exchangeFile(rank)), false)) {
                        writeState(out, exchangeStates.get(rank));
                    }
                }
            }
            try (FSDataOutputStream out = fs.create(new Path(temp, META), false)) {
                JSON.writeValue((java.io.OutputStream) out, meta);
            }
            if (fs.exists(target)) {
                // The same position was saved before (a retried stage): replace it.
                fs.delete(target, true);
            }
            if (!fs.rename(temp, target)) {
                throw new IOException("rename of " + temp + " to " + target + " returned false");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint " + target + ": " + e.getMessage()
                    + " (check that the checkpoint directory is writable and has space; the previous checkpoint is intact)", e);
        }
        if (keep > 0) {
            prune(keep);
        }
        return new Checkpoint(target.toString(), meta.epochsCompleted(), meta.stepInEpoch());
    }

    /** All complete checkpoints, oldest first. */
    public List<Checkpoint> list() {
        List<Checkpoint> found = new ArrayList<>();
        try {
            FileSystem fs = fs();
            Path dir = new Path(uri);
            if (!fs.exists(dir)) {
                return found;
            }
            for (FileStatus status : fs.listStatus(dir)) {
                Matcher m = NAME.matcher(status.getPath().getName());
                if (status.isDirectory() && m.matches() && fs.exists(new Path(status.getPath(), META))) {
                    found.add(new Checkpoint(status.getPath().toString(), Integer.parseInt(m.group(1)),
                            Integer.parseInt(m.group(2))));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list checkpoints in " + uri + ": " + e.getMessage(), e);
        }
        found.sort(Comparator.comparingInt(Checkpoint::epochsCompleted).thenComparingInt(Checkpoint::stepInEpoch));
        return found;
    }

    public Optional<Checkpoint> latest() {
        List<Checkpoint> all = list();
        return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
    }

    /** Removes directories left by interrupted writes; returns how many. */
    public int cleanPartial() {
        int removed = 0;
        try {
            FileSystem fs = fs();
            Path dir = new Path(uri);
            if (!fs.exists(dir)) {
                return 0;
            }
            for (FileStatus status : fs.listStatus(dir)) {
                if (status.getPath().getName().startsWith(TEMP_PREFIX)) {
                    LOG.warn("removing partial checkpoint {} left by an interrupted write", status.getPath());
                    fs.delete(status.getPath(), true);
                    removed++;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot clean partial checkpoints in " + uri + ": " + e.getMessage(), e);
        }
        return removed;
    }

    private void prune(int keep) {
        List<Checkpoint> all = list();
        try {
            FileSystem fs = fs();
            for (int i = 0; i < all.size() - keep; i++) {
                fs.delete(new Path(all.get(i).path()), true);
            }
        } catch (IOException e) {
            LOG.warn("could not remove old checkpoints in {}: {}", uri, e.getMessage());
        }
    }

    public ComputationGraph loadModel(Checkpoint checkpoint) {
        try (FSDataInputStream in = fs().open(new Path(checkpoint.path(), MODEL))) {
            return ModelSerializer.restoreComputationGraph(in, true);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot load checkpoint " + checkpoint.path() + ": " + e.getMessage(), e);
        }
    }

    /** The exchange-strategy state {@code rank} saved in this checkpoint; empty if it saved none. */
    public Map<String, float[]> loadExchangeState(Checkpoint checkpoint, int rank) {
        Path file = new Path(checkpoint.path(), exchangeFile(rank));
        try {
            FileSystem fs = fs();
            if (!fs.exists(file)) {
                return Map.of();
            }
            try (FSDataInputStream in = fs.open(file)) {
                return readState(in);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the exchange state " + file + ": " + e.getMessage(), e);
        }
    }

    private static String exchangeFile(int rank) {
        return String.format("exchange-rank-%05d.bin", rank);
    }

    /** Format: entry count, then per entry its name (UTF), length and floats; big-endian. */
    public static byte[] encodeState(Map<String, float[]> state) {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try {
            writeState(bytes, state);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    public static Map<String, float[]> decodeState(byte[] bytes) {
        try {
            return readState(new java.io.ByteArrayInputStream(bytes));
        } catch (IOException e) {
            throw new UncheckedIOException("corrupt exchange state: " + e.getMessage(), e);
        }
    }

    /**
     * The archive DL4J's {@link ModelSerializer#writeModel} writes (configuration, parameters, updater
     * state; read back by {@link ModelSerializer#restoreComputationGraph}), with its entries stored
     * instead of deflated. Trained float parameters hardly compress (7 %), and deflating them was 80 % of
     * a checkpoint's time, taken while every replica waits for rank 0.
     */
    static void writeUncompressed(ComputationGraph graph, java.io.OutputStream target) throws IOException {
        ZipOutputStream zip = new ZipOutputStream(target);
        zip.setLevel(Deflater.NO_COMPRESSION);
        zip.putNextEntry(new ZipEntry(ModelSerializer.CONFIGURATION_JSON));
        zip.write(graph.getConfiguration().toJson().getBytes(StandardCharsets.UTF_8));
        java.io.DataOutputStream data = new java.io.DataOutputStream(new java.io.BufferedOutputStream(zip, 1 << 16));
        zip.putNextEntry(new ZipEntry(ModelSerializer.COEFFICIENTS_BIN));
        Nd4j.write(graph.params(), data);
        data.flush();
        INDArray updaterState = graph.getUpdater() == null ? null : graph.getUpdater().getStateViewArray();
        if (updaterState != null && updaterState.length() > 0) {
            zip.putNextEntry(new ZipEntry(ModelSerializer.UPDATER_BIN));
            Nd4j.write(updaterState, data);
            data.flush();
        }
        zip.finish();
    }

    private static void writeState(java.io.OutputStream target, Map<String, float[]> state) throws IOException {
        java.io.DataOutputStream out = new java.io.DataOutputStream(new java.io.BufferedOutputStream(target));
        out.writeInt(state.size());
        for (Map.Entry<String, float[]> entry : new java.util.TreeMap<>(state).entrySet()) {
            out.writeUTF(entry.getKey());
            out.writeInt(entry.getValue().length);
            for (float v : entry.getValue()) {
                out.writeFloat(v);
            }
        }
        out.flush();
    }

    private static Map<String, float[]> readState(java.io.InputStream source) throws IOException {
        java.io.DataInputStream in = new java.io.DataInputStream(new java.io.BufferedInputStream(source));
        int entries = in.readInt();
        Map<String, float[]> state = new java.util.HashMap<>();
        for (int i = 0; i < entries; i++) {
            String name = in.readUTF();
            float[] values = new float[in.readInt()];
            for (int j = 0; j < values.length; j++) {
                values[j] = in.readFloat();
            }
            state.put(name, values);
        }
        return state;
    }

    public CheckpointMeta loadMeta(Checkpoint checkpoint) {
        try (FSDataInputStream in = fs().open(new Path(checkpoint.path(), META))) {
            return JSON.readValue((java.io.InputStream) in, CheckpointMeta.class);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + META + " of checkpoint " + checkpoint.path() + ": " + e.getMessage(), e);
        }
    }
}
