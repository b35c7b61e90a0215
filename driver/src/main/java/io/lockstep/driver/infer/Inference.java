package io.lockstep.driver.infer;

import io.lockstep.api.Prediction;
import io.lockstep.worker.spark.ExecutorModels;
import io.lockstep.worker.train.BatchDecoder;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * Inference on the executors: each task decodes its records in batches and runs them through the
 * executor JVM's copy of the model ({@link ExecutorModels}); nothing but results returns to the driver.
 */
public final class Inference {
    private Inference() {
    }

    /** One prediction per record, in the records' order within each partition. */
    public static <R> JavaRDD<Prediction> predict(JavaRDD<R> records, BatchDecoder<R> decoder, Broadcast<byte[]> model,
                                                  int batchSize) {
        return records.mapPartitions(partition -> {
            List<Prediction> out = new ArrayList<>();
            forEachBatch(partition, batchSize, decoder, model, (batch, probabilities) -> {
                int[] classes = probabilities.argMax(1).toIntVector();
                for (int i = 0; i < classes.length; i++) {
                    out.add(new Prediction(classes[i], probabilities.getRow(i).toFloatVector()));
                }
            });
            return out.iterator();
        });
    }

    /** The confusion matrix (row = true class, column = predicted) over all records, summed on the driver. */
    public static <R> long[][] confusion(JavaRDD<R> records, BatchDecoder<R> decoder, Broadcast<byte[]> model,
                                         int batchSize, int classes) {
        return records.mapPartitions(partition -> {
            long[][] confusion = new long[classes][classes];
            forEachBatch(partition, batchSize, decoder, model, (batch, probabilities) -> {
                int[] predicted = probabilities.argMax(1).toIntVector();
                int[] actual = batch.getLabels().argMax(1).toIntVector();
                for (int i = 0; i < predicted.length; i++) {
                    confusion[actual[i]][predicted[i]]++;
                }
            });
            return List.<long[][]>of(confusion).iterator();
        }).fold(new long[classes][classes], Inference::add);
    }

    private static long[][] add(long[][] a, long[][] b) {
        long[][] sum = new long[a.length][];
        for (int r = 0; r < a.length; r++) {
            sum[r] = a[r].clone();
            for (int c = 0; c < a[r].length; c++) {
                sum[r][c] += b[r][c];
            }
        }
        return sum;
    }

    /** A prediction with the record's true class index (-1 when the batch has no labels). */
    public record Labelled(int label, Prediction prediction) {
    }

    /** Predicts one batch of records on this executor (the model comes from the JVM's cache). */
    public static <R> List<Labelled> predictBatch(List<R> records, BatchDecoder<R> decoder, Broadcast<byte[]> model) {
        List<Labelled> out = new ArrayList<>(records.size());
        forEachBatch(records.iterator(), records.size(), decoder, model, (batch, probabilities) -> {
            int[] classes = probabilities.argMax(1).toIntVector();
            int[] labels = batch.getLabels() == null ? null : batch.getLabels().argMax(1).toIntVector();
            for (int i = 0; i < classes.length; i++) {
                out.add(new Labelled(labels == null ? -1 : labels[i], new Prediction(classes[i], probabilities.getRow(i).toFloatVector())));
            }
        });
        return out;
    }

    private interface BatchOutput {
        void accept(DataSet batch, INDArray probabilities);
    }

    private static <R> void forEachBatch(Iterator<R> partition, int batchSize, BatchDecoder<R> decoder,
                                         Broadcast<byte[]> model, BatchOutput sink) {
        ComputationGraph graph = ExecutorModels.get(model);
        List<R> pending = new ArrayList<>(batchSize);
        while (partition.hasNext()) {
            pending.add(partition.next());
            if (pending.size() == batchSize || !partition.hasNext()) {
                DataSet batch = decoder.decode(pending, false, 0, 0, 0, -1);
                INDArray probabilities;
                synchronized (graph) {
                    probabilities = graph.outputSingle(false, batch.getFeatures()).dup();
                }
                sink.accept(batch, probabilities);
                pending.clear();
            }
        }
    }
}
