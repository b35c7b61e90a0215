package io.lockstep.worker.data;

import io.lockstep.models.InputShape;
import io.lockstep.worker.device.HostMemory;
import io.lockstep.worker.train.BatchDecoder;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.Serial;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The executor-side decoder of every Lockstep dataset: turns a list of {@link LabeledRecord}s into an
 * ND4J {@link DataSet} with features {@code [batch, channels, height, width]} (float, transformed by
 * the {@link ImageTransform}) and one-hot labels {@code [batch, numClasses]}.
 *
 * <p>Training batches ({@code training = true}) get the transform's augmentation, drawn from a stream
 * seeded by {@code (seed, epoch, rank, step)}, so a batch is augmented the same way whichever thread
 * or executor decodes it; evaluation batches get only the deterministic part.
 *
 * <p>Thread-safety: {@link #decode} may be called from several threads at once (each call uses its
 * own scratch {@link RecordDecoder}); it allocates per batch the output arrays (features straight
 * off-heap, outside any ND4J workspace, so a batch may be queued and outlive the caller's scope),
 * one image of scratch and one decoder; nothing per image beyond ImageIO's decoded picture.
 * Under {@link BadRecordPolicy#SKIP} a record that fails to decode is left out of its batch and
 * recorded in {@link #skipped()}; a batch whose every record fails still throws, because an empty
 * batch cannot be trained on.
 */
public final class ImageBatchDecoder implements BatchDecoder<LabeledRecord> {
    @Serial
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(ImageBatchDecoder.class);

    private final RecordFormat format;
    private final ImageTransform transform;
    private final int numClasses;
    private final BadRecordPolicy policy;
    private transient ConcurrentLinkedQueue<SkippedRecord> skipped = new ConcurrentLinkedQueue<>();

    public ImageBatchDecoder(RecordFormat format, ImageTransform transform, int numClasses, BadRecordPolicy policy) {
        if (numClasses < 1) {
            throw new IllegalArgumentException("numClasses must be at least 1, got " + numClasses);
        }
        this.format = format;
        this.transform = transform;
        this.numClasses = numClasses;
        this.policy = policy;
    }

    public RecordFormat format() {
        return format;
    }

    public ImageTransform transform() {
        return transform;
    }

    public int numClasses() {
        return numClasses;
    }

    public BadRecordPolicy policy() {
        return policy;
    }

    public InputShape shape() {
        return transform.shape();
    }

    /** The same decoder with another transform (for example the one stored with a model, for evaluation). */
    public ImageBatchDecoder withTransform(ImageTransform newTransform) {
        return new ImageBatchDecoder(format, newTransform, numClasses, policy);
    }

    @Override
    public DataSet decode(List<LabeledRecord> records, boolean training, long seed, int epoch, int rank, int step) {
        if (records.isEmpty()) {
            throw new IllegalArgumentException("cannot decode an empty batch (epoch " + epoch + ", rank " + rank + ", step " + step + ")");
        }
        try (MemoryWorkspace outside = Nd4j.getMemoryManager().scopeOutOfWorkspaces();
             RecordDecoder decoder = new RecordDecoder(format, transform)) {
            return decode(decoder, records, training, seed, epoch, rank, step);
        }
    }

    private DataSet decode(RecordDecoder decoder, List<LabeledRecord> records, boolean training, long seed, int epoch, int rank,
                           int step) {
        AugmentRandom random = training && transform.augments() ? new AugmentRandom(seed, epoch, rank, step) : null;
        int size = decoder.outputSize();
        // Decode image by image into one scratch array and bulk-copy it into the batch's off-heap buffer:
        // no batch-sized Java array, and no element-by-element copy (Nd4j.create(float[]) copies per element).
        INDArray features = Nd4j.createUninitialized(DataType.FLOAT, records.size(), transform.channels(), transform.height(),
                transform.width());
        FloatBuffer featureBuffer = features.data().asNioFloat();
        float[] image = new float[size];
        float[] labels = new float[records.size() * numClasses];
        int n = 0;
        List<BadRecordException> failures = null;
        for (LabeledRecord record : records) {
            if (record.label() >= numClasses) {
                throw new IllegalStateException(record.describe() + " has label " + record.label() + " but the dataset has "
                        + numClasses + " classes; the reader should have rejected it");
            }
            try {
                decoder.decode(record, random, image, 0);
            } catch (BadRecordException e) {
                if (policy == BadRecordPolicy.FAIL) {
                    throw e;
                }
                if (failures == null) {
                    failures = new ArrayList<>();
                }
                failures.add(e);
                continue;
            }
            featureBuffer.put(n * size, image, 0, size);
            labels[n * numClasses + record.label()] = 1f;
            n++;
        }
        HostMemory.afterHostWrite(features);
        if (failures != null) {
            for (BadRecordException e : failures) {
                skipped.add(new SkippedRecord(e.source(), e.getMessage()));
                LOG.warn("skipped bad record (--bad-records skip): {}", e.getMessage());
            }
            if (n == 0) {
                throw new BadRecordException(failures.get(0).source(), "and every other record of this batch of " + records.size()
                        + " failed to decode (epoch " + epoch + ", rank " + rank + ", step " + step + ")", failures.get(0));
            }
            features = features.get(NDArrayIndex.interval(0, n), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all()).dup('c');
            labels = Arrays.copyOf(labels, n * numClasses);
        }
        INDArray labelArray = Nd4j.create(labels, new long[]{n, numClasses}, 'c');
        return new DataSet(features, labelArray);
    }

    /** Records skipped so far by this instance (on this executor), oldest first. */
    public List<SkippedRecord> skipped() {
        return new ArrayList<>(skipped);
    }

    @Serial
    private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
        in.defaultReadObject();
        skipped = new ConcurrentLinkedQueue<>();
    }
}
