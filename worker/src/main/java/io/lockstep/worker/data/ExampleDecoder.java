package io.lockstep.worker.data;

import io.lockstep.worker.train.BatchDecoder;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;

/** Stacks {@link ExampleRecord}s into a batch, as they are: no augmentation, no normalization. */
public final class ExampleDecoder implements BatchDecoder<ExampleRecord> {
    @Override
    public DataSet decode(List<ExampleRecord> records, boolean training, long seed, int epoch, int rank, int step) {
        ExampleRecord first = records.get(0);
        int featureLength = first.features().length;
        int labelLength = first.labels().length;
        float[] features = new float[records.size() * featureLength];
        float[] labels = new float[records.size() * labelLength];
        for (int i = 0; i < records.size(); i++) {
            ExampleRecord record = records.get(i);
            System.arraycopy(record.features(), 0, features, i * featureLength, featureLength);
            System.arraycopy(record.labels(), 0, labels, i * labelLength, labelLength);
        }
        long[] shape = new long[first.shape().length + 1];
        shape[0] = records.size();
        System.arraycopy(first.shape(), 0, shape, 1, first.shape().length);
        // Unlabelled examples (prediction) carry no label values.
        return new DataSet(Nd4j.create(features, shape, 'c'),
                labelLength == 0 ? null : Nd4j.create(labels, new long[]{records.size(), labelLength}, 'c'));
    }
}
