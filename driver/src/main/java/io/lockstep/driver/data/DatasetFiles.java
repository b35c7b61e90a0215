package io.lockstep.driver.data;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.RemoteIterator;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * A dataset's directory on any Hadoop filesystem ({@code file://}, {@code hdfs://}, {@code s3a://}
 * or a plain path, resolved against the default filesystem). Turns filesystem failures into
 * {@link DatasetException}s that name the path. Not thread-safe beyond what {@link FileSystem} is
 * (Hadoop filesystems are safe for concurrent reads).
 */
public final class DatasetFiles {
    private final FileSystem fs;
    private final Path root;
    private final String uri;

    private DatasetFiles(FileSystem fs, Path root, String uri) {
        this.fs = fs;
        this.root = root;
        this.uri = uri;
    }

    /**
     * Resolves {@code uri}, which must name an existing directory.
     *
     * @throws DatasetException if it does not exist, is a file, or its filesystem cannot be reached
     */
    public static DatasetFiles open(String uri, Configuration conf) {
        if (uri == null || uri.isBlank()) {
            throw new DatasetException("--data: no dataset given; pass a directory (local path, file://, hdfs:// or s3a://)");
        }
        Path path;
        try {
            path = new Path(uri);
        } catch (IllegalArgumentException e) {
            throw new DatasetException("--data: '" + uri + "' is not a valid path or URI: " + e.getMessage(), e);
        }
        try {
            FileSystem fs = path.getFileSystem(conf);
            FileStatus status;
            try {
                status = fs.getFileStatus(path);
            } catch (FileNotFoundException e) {
                throw new DatasetException("--data: " + uri + " does not exist" + hint(uri));
            }
            if (!status.isDirectory()) {
                throw new DatasetException("--data: " + uri + " is a file; give the directory that holds the dataset's files"
                        + " (for IDX the four train-/t10k- files, for CIFAR the .bin files, for images the class folders)");
            }
            return new DatasetFiles(fs, status.getPath(), uri);
        } catch (IOException e) {
            throw new DatasetException("--data: cannot reach " + uri + " (" + e.getMessage() + "); check the URI and the filesystem's "
                    + "configuration (core-site.xml, credentials)", e);
        }
    }

    private static String hint(String uri) {
        return uri.contains("://") ? "" : " (a path without scheme is resolved on the default filesystem, fs.defaultFS)";
    }

    public FileSystem fs() {
        return fs;
    }

    public Path root() {
        return root;
    }

    /** The dataset as the user named it. */
    public String uri() {
        return uri;
    }

    /** The child {@code name} of the root if it exists, as a file, else null. */
    public Path file(String name) {
        return fileIn(root, name);
    }

    /** The child {@code name} of {@code dir} if it is an existing file, else null. */
    public Path fileIn(Path dir, String name) {
        Path p = new Path(dir, name);
        try {
            return fs.isFile(p) ? p : null;
        } catch (IOException e) {
            throw new DatasetException("cannot check " + p + ": " + e.getMessage(), e);
        }
    }

    /** The child directory {@code name} of {@code dir}, or null. */
    public Path dirIn(Path dir, String name) {
        Path p = new Path(dir, name);
        try {
            return fs.getFileStatus(p).isDirectory() ? p : null;
        } catch (FileNotFoundException e) {
            return null;
        } catch (IOException e) {
            throw new DatasetException("cannot check " + p + ": " + e.getMessage(), e);
        }
    }

    /**
     * The entries of {@code dir}, sorted by name; on distributed filesystems files carry their block
     * locations (for reading near the data). Local directories are listed without: a located status asks
     * for each file's permissions, which Hadoop's local filesystem learns by running {@code ls} once per
     * file (minutes for 20,000 images on a busy machine), and local files have no remote hosts to prefer.
     */
    public List<FileStatus> list(Path dir) {
        try {
            List<FileStatus> entries = new ArrayList<>();
            if (fs instanceof LocalFileSystem || fs instanceof RawLocalFileSystem) {
                entries.addAll(List.of(fs.listStatus(dir)));
            } else {
                RemoteIterator<LocatedFileStatus> it = fs.listLocatedStatus(dir);
                while (it.hasNext()) {
                    entries.add(it.next());
                }
            }
            entries.sort(Comparator.comparing(s -> s.getPath().getName()));
            return List.copyOf(entries);
        } catch (IOException e) {
            throw new DatasetException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    public long length(Path file) {
        try {
            return fs.getFileStatus(file).getLen();
        } catch (IOException e) {
            throw new DatasetException("cannot read the size of " + file + ": " + e.getMessage(), e);
        }
    }

    /** Opens {@code file} for reading, gunzipping it if its name ends in {@code .gz}. */
    public InputStream open(Path file) {
        try {
            InputStream in = new BufferedInputStream(fs.open(file), 1 << 16);
            if (!file.getName().endsWith(".gz")) {
                return in;
            }
            try {
                return new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16);
            } catch (EOFException e) {
                in.close();
                throw new DatasetException(file + " is empty or ends inside its gzip header; download it again", e);
            } catch (IOException e) {
                in.close();
                throw new DatasetException(file + " is not gzip-compressed although its name ends in .gz (" + e.getMessage()
                        + "); rename it without .gz if it is uncompressed, or download it again", e);
            }
        } catch (IOException e) {
            throw new DatasetException("cannot open " + file + ": " + e.getMessage(), e);
        }
    }

    /** Reads a whole (small) file. */
    public byte[] readAll(Path file) {
        try (InputStream in = fs.open(file)) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new DatasetException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** {@code file} relative to the dataset root, for messages and record sources. */
    public String relative(Path file) {
        String r = root.toUri().getPath();
        String f = file.toUri().getPath();
        return f.startsWith(r + "/") ? f.substring(r.length() + 1) : file.toString();
    }
}
