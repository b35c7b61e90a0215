package io.lockstep.driver.data;

import io.lockstep.worker.data.BadRecordException;
import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.ImageProbe;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.SkippedRecord;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.BufferedInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.Serial;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * One tar shard (WebDataset layout, see {@link TarSamples}), or a run of its samples starting at a sample
 * boundary, read by one executor task sample by sample: the listing counted the samples per split of each
 * piece, so every sample gets the id the listing gave it. Listing cuts a shard into pieces of about
 * {@link DistributedDataset#UNIT_BYTES} at sample boundaries, so that a task caches, and a lost task
 * rereads, no more than the other formats' read units, however large the shards. A sample without its
 * image or class entry, with a class outside the class list, or with an unreadable image fails the task
 * naming the shard, the entry and {@code --bad-records skip}, or under skip becomes a skipped record (its
 * id is numbered out before planning, like a bad image file).
 */
final class TarShardUnit implements ReadUnit {
    @Serial
    private static final long serialVersionUID = 1L;

    /** A shard as listed: where it is, its split (or the hash split), and its size and hosts. */
    record Shard(String path, String relative, Boolean test, long length, String[] hosts) implements Serializable {
    }

    /**
     * What listing a shard found: its samples per split, the largest class index, what it left out, and its
     * pieces (at least one when it holds samples).
     */
    record Scan(int train, int test, int maxClass, List<SkippedRecord> skipped, List<Piece> pieces) implements Serializable {
    }

    /** A run of a shard's samples: the offset of its first header, its length in bytes, and its samples per split. */
    record Piece(long offset, long length, int train, int test) implements Serializable {
    }

    private final Shard shard;
    private final long offset;
    private final long length;
    private final String[] hosts;
    private final double valFraction;
    private final int firstTrainId;
    private final int firstTestId;
    private final int trainCount;
    private final int testCount;

    /** {@code hosts}: those holding the piece's first bytes (its shard's, when unknown). */
    TarShardUnit(Shard shard, Piece piece, String[] hosts, double valFraction, int firstTrainId, int firstTestId) {
        this(shard, hosts, piece.offset(), piece.length(), valFraction, firstTrainId, firstTestId, piece.train(), piece.test());
    }

    private TarShardUnit(Shard shard, String[] hosts, long offset, long length, double valFraction, int firstTrainId,
                         int firstTestId, int trainCount, int testCount) {
        this.shard = shard;
        this.hosts = hosts;
        this.offset = offset;
        this.length = length;
        this.valFraction = valFraction;
        this.firstTrainId = firstTrainId;
        this.firstTestId = firstTestId;
        this.trainCount = trainCount;
        this.testCount = testCount;
    }

    @Override
    public String[] hosts() {
        return hosts;
    }

    @Override
    public long bytes() {
        return length;
    }

    private boolean test(String key) {
        return shard.test() != null ? shard.test() : ImageFolderDataset.heldOut(key, valFraction);
    }

    /**
     * Counts the samples of {@code shard} per split, reading headers and class entries only (image bytes
     * are skipped), and cuts it into pieces of at least {@code pieceBytes} (the last one may be smaller) at
     * sample boundaries. A truncated or empty shard fails naming it, or under skip is reported and counted
     * up to its last complete sample.
     */
    static Scan scan(Shard shard, double valFraction, ReadUnit.Context context, long pieceBytes) {
        TarShardUnit unit = new TarShardUnit(shard, shard.hosts(), 0, shard.length(), valFraction, 0, 0, 0, 0);
        int train = 0;
        int test = 0;
        int maxClass = -1;
        List<SkippedRecord> skipped = new ArrayList<>();
        List<Piece> pieces = new ArrayList<>();
        long pieceStart = 0;
        int pieceTrain = 0;
        int pieceTest = 0;
        boolean whole = false;
        try (TarSamples samples = unit.open(context, false)) {
            try {
                for (TarSamples.Sample s = samples.next(); s != null; s = samples.next()) {
                    whole |= samples.globalHeader();
                    if (!whole && s.offset() - pieceStart >= pieceBytes && pieceTrain + pieceTest > 0) {
                        pieces.add(new Piece(pieceStart, s.offset() - pieceStart, pieceTrain, pieceTest));
                        pieceStart = s.offset();
                        pieceTrain = 0;
                        pieceTest = 0;
                    }
                    if (unit.test(s.key())) {
                        test++;
                        pieceTest++;
                    } else {
                        train++;
                        pieceTrain++;
                    }
                    maxClass = Math.max(maxClass, TarSamples.classIndex(s.cls()));
                }
            } catch (TarSamples.Truncated e) {
                SkippedRecord cut = unit.truncated(context, e, train + test);
                skipped.add(cut);
            }
        } catch (IOException e) {
            throw unit.unreadable(e);
        }
        if (pieceTrain + pieceTest > 0) {
            pieces.add(new Piece(pieceStart, shard.length() - pieceStart, pieceTrain, pieceTest));
        }
        if (train + test == 0 && skipped.isEmpty()) {
            String reason = "holds no samples (an empty shard: no key.jpg/.png with its key.cls)";
            if (context.policy() == BadRecordPolicy.FAIL) {
                throw new DatasetException(DistributedDataset.withSkipHint("--data: shard " + unit.source() + " " + reason));
            }
            skipped.add(new SkippedRecord(shard.relative(), reason));
        }
        return new Scan(train, test, maxClass, List.copyOf(skipped), List.copyOf(pieces));
    }

    @Override
    public Iterator<ReadRecord> read(Context context) {
        TarSamples samples = open(context, true);
        return new Iterator<>() {
            private int train;
            private int test;
            private boolean ended;

            @Override
            public boolean hasNext() {
                if (train < trainCount || test < testCount) {
                    return true;
                }
                close(samples);
                return false;
            }

            @Override
            public ReadRecord next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                TarSamples.Sample s = null;
                String changed = null;
                if (!ended) {
                    try {
                        s = samples.next();
                        if (s == null) {
                            ended = true;
                        }
                    } catch (TarSamples.Truncated e) {
                        ended = true;
                        changed = "now ends inside " + e.where();
                    }
                }
                if (s == null) {
                    // The shard lost samples since it was listed: the ids still owed become bad records.
                    boolean isTest = train >= trainCount;
                    int id = isTest ? firstTestId + test++ : firstTrainId + train++;
                    String reason = "held " + (trainCount + testCount) + " samples" + (offset > 0 ? " from byte " + offset : "")
                            + " when the dataset was listed but "
                            + (changed != null ? changed : "now ends after fewer") + " (it changed while the job ran)";
                    return bad(context, isTest, id, shard.relative(), new BadRecordException(shard.relative(), reason));
                }
                boolean isTest = test(s.key());
                if (isTest ? test >= testCount : train >= trainCount) {
                    throw new DatasetException("--data: shard " + source() + " changed while the job ran: it holds more "
                            + (isTest ? "test" : "training") + " samples than when the dataset was listed; do not rewrite"
                            + " shards during training");
                }
                int id = isTest ? firstTestId + test++ : firstTrainId + train++;
                return record(context, s, isTest, id);
            }
        };
    }

    private ReadRecord record(Context context, TarSamples.Sample s, boolean isTest, int id) {
        String source = shard.relative() + "/" + s.entry();
        String problem = s.problem();
        if (problem != null) {
            return bad(context, isTest, id, source, new BadRecordException(source, problem));
        }
        int label = TarSamples.classIndex(s.cls());
        if (label < 0 || label >= context.numClasses()) {
            String reason = label < 0
                    ? "has class entry " + s.clsEntry() + " holding '" + s.cls() + "', not a class index (decimal 0.."
                    + (context.numClasses() - 1) + ")"
                    : "has class index " + label + " in " + s.clsEntry() + ", outside the class list 0.." + (context.numClasses() - 1)
                    + " (list the classes in classes.txt or pass --num-classes)";
            return bad(context, isTest, id, source, new BadRecordException(source, reason));
        }
        ImageProbe.ImageInfo info;
        try {
            info = ImageProbe.probe(s.image(), source, context.fullVerify());
        } catch (BadRecordException e) {
            return bad(context, isTest, id, source, e);
        }
        return new ReadRecord(isTest, id, new LabeledRecord(label, s.image(), source), null, info.format(), info.width(),
                info.height(), info.channels(), info.alpha());
    }

    private ReadRecord bad(Context context, boolean isTest, int id, String source, BadRecordException e) {
        if (context.policy() == BadRecordPolicy.FAIL) {
            throw new DatasetException(DistributedDataset.withSkipHint("--data: shard " + source() + ": " + e.getMessage()), e);
        }
        return new ReadRecord(isTest, id, null, new SkippedRecord(source, e.getMessage()), null, 0, 0, 0, false);
    }

    /** Under skip, what a truncated shard loses (its last, incomplete sample); under fail, the error. */
    private SkippedRecord truncated(Context context, TarSamples.Truncated e, int complete) {
        String reason = "is truncated: it ends inside " + e.where() + " after " + complete + " complete samples ("
                + e.getMessage() + "); copy the shard again";
        if (context.policy() == BadRecordPolicy.FAIL) {
            throw new DatasetException(DistributedDataset.withSkipHint("--data: shard " + source() + " " + reason)
                    .replace("to leave it out", "to keep its complete samples"), e);
        }
        return new SkippedRecord(shard.relative() + "/" + e.where(), "shard " + reason);
    }

    private String source() {
        return shard.path();
    }

    private DatasetException unreadable(IOException e) {
        return new DatasetException("cannot read shard " + shard.path() + ": " + e.getMessage() + " (check the filesystem;"
                + " the task is retried by Spark)", e);
    }

    private TarSamples open(Context context, boolean readImages) {
        Path path = new Path(shard.path());
        try {
            FileSystem fs = path.getFileSystem(context.conf().get());
            FSDataInputStream in = fs.open(path);
            if (offset > 0) {
                try {
                    in.seek(offset);
                } catch (IOException e) {
                    in.close();
                    throw e;
                }
            }
            return new TarSamples(new BufferedInputStream(in, 1 << 16), readImages);
        } catch (FileNotFoundException e) {
            throw new DatasetException("--data: shard " + shard.path() + " disappeared after the dataset was listed, or is not on"
                    + " this executor's host" + DistributedDataset.localPathHint(shard.path()), e);
        } catch (IOException e) {
            throw unreadable(e);
        }
    }

    private static void close(TarSamples samples) {
        try {
            samples.close();
        } catch (IOException e) {
            // Everything was read; a failing close of a read-only stream loses nothing.
        }
    }
}
