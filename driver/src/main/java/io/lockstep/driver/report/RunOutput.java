package io.lockstep.driver.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Map;

/**
 * The job's output directory on any Hadoop filesystem: {@code metrics.jsonl} (one JSON object per
 * line, appended as the job runs), {@code summary.json} and {@code model.zip}. Owned by the driver's
 * training thread.
 */
public final class RunOutput implements AutoCloseable {
    public static final String METRICS = "metrics.jsonl";
    public static final String SUMMARY = "summary.json";
    public static final String MODEL = "model.zip";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final FileSystem fs;
    private final Path dir;
    private final OutputStream metrics;

    public RunOutput(String out, Configuration hadoopConf) {
        this(out, hadoopConf, false);
    }

    /** With {@code append} (a resumed job), metrics already in {@code metrics.jsonl} are kept. */
    public RunOutput(String out, Configuration hadoopConf, boolean append) {
        try {
            this.fs = fileSystem(out, hadoopConf);
            this.dir = fs.makeQualified(new Path(out));
            fs.mkdirs(dir);
            Path metricsPath = new Path(dir, METRICS);
            this.metrics = append && fs.exists(metricsPath) ? appendTo(fs, metricsPath) : fs.create(metricsPath, true);
        } catch (IOException e) {
            throw new UncheckedIOException("--out: cannot create output directory " + out + ": " + e.getMessage(), e);
        }
    }

    /**
     * The filesystem of an output directory (a path without a scheme is local). On the local disk the
     * raw filesystem: the checksummed one holds back a partial 512-byte chunk on flush, and
     * {@code tail -f metrics.jsonl} should see each record as it is written.
     */
    public static FileSystem fileSystem(String out, Configuration hadoopConf) {
        try {
            URI uri = new Path(out).toUri();
            FileSystem opened = FileSystem.get(uri.getScheme() == null ? new Path(out).makeQualified(FileSystem.getLocal(hadoopConf).getUri(),
                    FileSystem.getLocal(hadoopConf).getWorkingDirectory()).toUri() : uri, hadoopConf);
            return opened instanceof LocalFileSystem local ? local.getRawFileSystem() : opened;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the filesystem of " + out + ": " + e.getMessage(), e);
        }
    }

    /** Appends where the filesystem can; elsewhere (object stores) rewrites the old lines first. */
    private static OutputStream appendTo(FileSystem fs, Path path) throws IOException {
        try {
            return fs.append(path);
        } catch (UnsupportedOperationException | IOException e) {
            byte[] old;
            try (var in = fs.open(path)) {
                old = in.readAllBytes();
            }
            OutputStream out = fs.create(path, true);
            out.write(old);
            return out;
        }
    }

    public String uri() {
        return dir.toString();
    }

    /** Appends one record and makes it visible to readers at once; callable from any thread. */
    public synchronized void metric(Map<String, ?> record) {
        try {
            metrics.write(JSON.writeValueAsBytes(record));
            metrics.write('\n');
            if (metrics instanceof FSDataOutputStream stream) {
                stream.hflush();
            } else {
                metrics.flush();
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot append to " + new Path(dir, METRICS) + ": " + e.getMessage(), e);
        }
    }

    public void summary(Map<String, ?> summary) {
        try {
            writeAtomically(SUMMARY, JSON.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(summary)
                    .getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serialize the summary: " + e.getMessage(), e);
        }
    }

    /** Copies a local model file into the output directory as {@code model.zip}. */
    public void model(java.nio.file.Path localModel) {
        try {
            writeAtomically(MODEL, Files.readAllBytes(localModel));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + localModel + ": " + e.getMessage(), e);
        }
    }

    private void writeAtomically(String name, byte[] bytes) {
        Path temp = new Path(dir, "." + name + ".tmp");
        Path target = new Path(dir, name);
        try {
            try (FSDataOutputStream out = fs.create(temp, true)) {
                out.write(bytes);
            }
            if (fs.exists(target)) {
                fs.delete(target, false);
            }
            if (!fs.rename(temp, target)) {
                throw new IOException("rename to " + target + " failed");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            metrics.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close " + new Path(dir, METRICS) + ": " + e.getMessage(), e);
        }
    }

    /** Only for JSON of small objects such as the model's metadata. */
    public static String toJson(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
