package io.lockstep.driver.data;

import io.lockstep.worker.data.LabeledRecord;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serial;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * A range of fixed-size records of one file, read by one executor task: IDX images (labels from the
 * matching labels file) or CIFAR records (label bytes first). Uncompressed files are read from the
 * range's byte offset; a gzipped file cannot be entered in the middle, so it is one range read from
 * its start. A label outside the class list or a file that ends early fails the task naming the file
 * and record.
 */
final class FixedRecordsUnit implements ReadUnit {
    @Serial
    private static final long serialVersionUID = 1L;

    private final String path;
    private final long headerBytes;
    /** Bytes before the pixels in each record (CIFAR: 1 or 2 label bytes, the last one used); 0 for IDX. */
    private final int labelPrefix;
    private final int pixels;
    /** IDX: the labels file and its header length; null for CIFAR. */
    private final String labelsPath;
    private final long labelsHeaderBytes;
    private final boolean test;
    private final int first;
    private final int count;
    private final int firstId;
    private final String[] hosts;

    FixedRecordsUnit(String path, long headerBytes, int labelPrefix, int pixels, String labelsPath, long labelsHeaderBytes,
                     boolean test, int first, int count, int firstId, String[] hosts) {
        this.path = path;
        this.headerBytes = headerBytes;
        this.labelPrefix = labelPrefix;
        this.pixels = pixels;
        this.labelsPath = labelsPath;
        this.labelsHeaderBytes = labelsHeaderBytes;
        this.test = test;
        this.first = first;
        this.count = count;
        this.firstId = firstId;
        this.hosts = hosts;
    }

    @Override
    public String[] hosts() {
        return hosts;
    }

    @Override
    public long bytes() {
        return (long) count * (labelPrefix + pixels);
    }

    @Override
    public Iterator<ReadRecord> read(Context context) {
        DataInputStream records = open(context, path, headerBytes + (long) first * (labelPrefix + pixels));
        DataInputStream labels = labelsPath == null ? null : open(context, labelsPath, labelsHeaderBytes + first);
        return new Iterator<>() {
            private int next;

            @Override
            public boolean hasNext() {
                if (next < count) {
                    return true;
                }
                close(records);
                close(labels);
                return false;
            }

            @Override
            public ReadRecord next() {
                if (next >= count) {
                    throw new NoSuchElementException();
                }
                int index = first + next++;
                try {
                    int label = 0;
                    if (labels != null) {
                        label = labels.readUnsignedByte();
                    } else {
                        for (int b = 0; b < labelPrefix; b++) {
                            label = records.readUnsignedByte();
                        }
                    }
                    if (label >= context.numClasses()) {
                        throw new DatasetException((labels != null ? labelsPath : path) + ": label " + label + " of record " + index
                                + " is outside 0.." + (context.numClasses() - 1) + "; pass --num-classes N if the dataset really has"
                                + " more classes, or fix the labels");
                    }
                    byte[] image = new byte[pixels];
                    records.readFully(image);
                    return ReadRecord.raw(test, firstId + next - 1, new LabeledRecord(label, image));
                } catch (EOFException | ZipException e) {
                    throw new DatasetException(path + " is truncated: it ends inside record " + index + " (it changed after the"
                            + " dataset was listed, or the compressed data is damaged); download it again", e);
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read record " + index + " of " + path + ": " + e.getMessage(), e);
                }
            }
        };
    }

    private static DataInputStream open(Context context, String file, long offset) {
        Path p = new Path(file);
        try {
            FileSystem fs = p.getFileSystem(context.conf().get());
            FSDataInputStream raw = fs.open(p);
            InputStream in;
            if (file.endsWith(".gz")) {
                in = new BufferedInputStream(new GZIPInputStream(new BufferedInputStream(raw, 1 << 16), 1 << 16), 1 << 16);
                in.skipNBytes(offset);
            } else {
                raw.seek(offset);
                in = new BufferedInputStream(raw, 1 << 16);
            }
            return new DataInputStream(in);
        } catch (EOFException e) {
            throw new DatasetException(file + " is shorter than the listing found it (no data at byte " + offset
                    + "); it changed after the dataset was listed", e);
        } catch (IOException e) {
            throw new DatasetException("cannot open " + file + ": " + e.getMessage()
                    + (e instanceof java.io.FileNotFoundException ? DistributedDataset.localPathHint(file) : ""), e);
        }
    }

    private static void close(InputStream in) {
        if (in == null) {
            return;
        }
        try {
            in.close();
        } catch (IOException e) {
            // Everything was read; a failing close of a read-only stream loses nothing.
        }
    }
}
