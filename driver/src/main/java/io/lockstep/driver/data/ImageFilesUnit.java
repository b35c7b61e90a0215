package io.lockstep.driver.data;

import io.lockstep.worker.data.BadRecordException;
import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.ImageProbe;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.SkippedRecord;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serial;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * A group of image files read by one executor task, each file whole, checked by {@link ImageProbe}
 * like the driver checks them ({@code --verify-images}). A file that disappeared, shrank since the
 * listing, or is not a readable PNG/JPEG fails the task naming it, or under {@code --bad-records skip}
 * becomes a skipped record.
 */
final class ImageFilesUnit implements ReadUnit {
    @Serial
    private static final long serialVersionUID = 1L;

    private final String[] paths;
    private final String[] relatives;
    private final long[] lengths;
    private final int[] labels;
    private final boolean[] test;
    private final int[] ids;
    private final String[] hosts;
    private final long bytes;

    ImageFilesUnit(String[] paths, String[] relatives, long[] lengths, int[] labels, boolean[] test, int[] ids, String[] hosts) {
        this.paths = paths;
        this.relatives = relatives;
        this.lengths = lengths;
        this.labels = labels;
        this.test = test;
        this.ids = ids;
        this.hosts = hosts;
        long sum = 0;
        for (long length : lengths) {
            sum += length;
        }
        this.bytes = sum;
    }

    @Override
    public String[] hosts() {
        return hosts;
    }

    @Override
    public long bytes() {
        return bytes;
    }

    int files() {
        return paths.length;
    }

    @Override
    public Iterator<ReadRecord> read(Context context) {
        return new Iterator<>() {
            private int next;

            @Override
            public boolean hasNext() {
                return next < paths.length;
            }

            @Override
            public ReadRecord next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                int i = next++;
                return readOne(context, i);
            }
        };
    }

    private ReadRecord readOne(Context context, int i) {
        byte[] bytes;
        try {
            bytes = readFile(context, i);
        } catch (BadRecordException e) {
            return bad(context, i, e);
        }
        ImageProbe.ImageInfo info;
        try {
            info = ImageProbe.probe(bytes, relatives[i], context.fullVerify());
        } catch (BadRecordException e) {
            return bad(context, i, e);
        }
        return new ReadRecord(test[i], ids[i], new LabeledRecord(labels[i], bytes, relatives[i]), null, info.format(),
                info.width(), info.height(), info.channels(), info.alpha());
    }

    private ReadRecord bad(Context context, int i, BadRecordException e) {
        if (context.policy() == BadRecordPolicy.FAIL) {
            throw new DatasetException(DistributedDataset.withSkipHint(context.uri().replaceAll("/+$", "") + "/" + e.getMessage()), e);
        }
        return new ReadRecord(test[i], ids[i], null, new SkippedRecord(relatives[i], e.getMessage()), null, 0, 0, 0, false);
    }

    /** The whole file, which must still have the length the listing saw. */
    private byte[] readFile(Context context, int i) {
        Path path = new Path(paths[i]);
        try {
            FileSystem fs = path.getFileSystem(context.conf().get());
            if (lengths[i] > Integer.MAX_VALUE - 16) {
                throw new BadRecordException(relatives[i], "is " + lengths[i] + " bytes, too large for one image");
            }
            byte[] bytes = new byte[(int) lengths[i]];
            try (InputStream in = fs.open(path)) {
                int read = in.readNBytes(bytes, 0, bytes.length);
                if (read < bytes.length) {
                    throw new BadRecordException(relatives[i], "was " + lengths[i] + " bytes when the dataset was listed but now ends after "
                            + read + " (it was truncated or replaced while the job ran)");
                }
                if (in.read() >= 0) {
                    throw new BadRecordException(relatives[i], "grew after the dataset was listed (" + lengths[i]
                            + " bytes then); it was replaced while the job ran");
                }
            }
            return bytes;
        } catch (FileNotFoundException e) {
            throw new BadRecordException(relatives[i], "disappeared after the dataset was listed, or is not on this executor's"
                    + " host" + DistributedDataset.localPathHint(paths[i]));
        } catch (IOException e) {
            throw new DatasetException("cannot read " + paths[i] + ": " + e.getMessage() + " (check the filesystem; the task is"
                    + " retried by Spark)", e);
        }
    }
}
