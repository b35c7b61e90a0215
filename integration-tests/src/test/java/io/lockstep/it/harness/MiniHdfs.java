package io.lockstep.it.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An in-process HDFS (one NameNode, one DataNode, {@link MiniDFSCluster} from
 * hadoop-client-minicluster) on loopback with ephemeral ports, its storage in a fresh directory.
 *
 * <p>Any JVM on this machine can use {@link #uri()} (Spark drivers and executors included; the
 * URI carries host and port, so no client configuration is needed). Start-up takes about 7 s on
 * 2 idle cores, ~3 s of which is the NameNode's WebHDFS (Jersey) scanning the 56 MB shaded
 * minicluster jar: Hadoop registers it unconditionally, so share one instance per test class.
 * Replication is 1. Not thread-safe to start/stop; the returned {@link FileSystem} is.
 */
public final class MiniHdfs implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(MiniHdfs.class);

    private final MiniDFSCluster cluster;
    private final FileSystem fileSystem;
    private final URI uri;
    private final Path baseDir;
    private final Duration startupTime;

    private MiniHdfs(MiniDFSCluster cluster, FileSystem fileSystem, Path baseDir, Duration startupTime) {
        this.cluster = cluster;
        this.fileSystem = fileSystem;
        this.uri = cluster.getURI();
        this.baseDir = baseDir;
        this.startupTime = startupTime;
    }

    /** Starts a file system with its storage in a fresh directory under {@link TestRuntime#newWorkDir}. */
    public static MiniHdfs start() {
        return start(TestRuntime.newWorkDir("minihdfs"));
    }

    /** Starts a file system storing its name and data directories under {@code baseDir} (deleted on close). */
    public static MiniHdfs start(Path baseDir) {
        long startNanos = System.nanoTime();
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, baseDir.toAbsolutePath().toString());
        conf.setInt("dfs.replication", 1);
        // MiniDFSCluster binds RPC, data transfer and both web servers to 127.0.0.1:0; the web servers cannot be disabled.
        MiniDFSCluster cluster = null;
        try {
            cluster = new MiniDFSCluster.Builder(conf, baseDir.toAbsolutePath().toFile())
                    .numDataNodes(1)
                    .format(true)
                    .waitSafeMode(true)
                    .build();
            cluster.waitActive();
            FileSystem fs = FileSystem.newInstance(cluster.getURI(), cluster.getConfiguration(0));
            Duration startup = Duration.ofNanos(System.nanoTime() - startNanos);
            LOG.info("MiniHdfs {} up in {} ms (storage {})", cluster.getURI(), startup.toMillis(), baseDir);
            return new MiniHdfs(cluster, fs, baseDir, startup);
        } catch (IOException | RuntimeException e) {
            if (cluster != null) {
                cluster.shutdown(true);
            }
            throw new IllegalStateException("Could not start MiniDFSCluster under " + baseDir
                    + " (see the hadoop log lines above; a stale in_use.lock means another test uses this directory)", e);
        }
    }

    /** {@code hdfs://localhost:<port>}: the NameNode, usable from any JVM on this machine. */
    public URI uri() {
        return uri;
    }

    /** {@code hdfs://localhost:<port>/<path>} for an absolute path such as {@code /data/train}. */
    public String uri(String absolutePath) {
        if (!absolutePath.startsWith("/")) {
            throw new IllegalArgumentException("HDFS path must be absolute: " + absolutePath);
        }
        return uri.toString() + absolutePath;
    }

    /** A client owned by this instance (closed by {@link #close()}); thread-safe. */
    public FileSystem fileSystem() {
        return fileSystem;
    }

    /** A copy of the client configuration, for code that opens its own {@link FileSystem}. */
    public Configuration configuration() {
        return new Configuration(cluster.getConfiguration(0));
    }

    /** Where the NameNode and DataNode store their files. */
    public Path baseDir() {
        return baseDir;
    }

    /** From {@link #start()} until the DataNode had registered and safe mode was off. */
    public Duration startupTime() {
        return startupTime;
    }

    /** Closes the client, stops both nodes and deletes the storage directory. */
    @Override
    public void close() {
        try {
            fileSystem.close();
        } catch (IOException e) {
            throw new UncheckedIOException("Could not close the HDFS client of " + uri, e);
        } finally {
            cluster.shutdown(true);
        }
    }

    @Override
    public String toString() {
        return "MiniHdfs(" + uri + ")";
    }
}
