package io.lockstep.driver.infer;

import io.lockstep.api.Prediction;
import io.lockstep.worker.spark.SerializableHadoopConf;
import io.lockstep.worker.train.BatchDecoder;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.hadoop.util.HadoopOutputFile;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.broadcast.Broadcast;
import scala.Tuple2;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * Predictions written as Parquet by the executors, one {@code part-NNNNN.parquet} file per partition
 * in the output directory (any Hadoop filesystem), with the columns of {@link #SCHEMA}: the record's
 * id (its file path, or {@code split:index}), its true label, the predicted class index and name, and
 * the output layer's probabilities as a list. Spark reads the directory with {@code spark.read().parquet(dir)}.
 */
public final class ParquetPredictions {
    public static final MessageType SCHEMA = MessageTypeParser.parseMessageType("""
            message prediction {
              required binary id (STRING);
              required int32 label;
              required int32 predicted;
              required binary predicted_class (STRING);
              required group probabilities (LIST) {
                repeated group list {
                  required float element;
                }
              }
            }""");

    private ParquetPredictions() {
    }

    /**
     * Predicts every record and writes the results; returns the number of records written.
     *
     * @param records (id, record) pairs
     */
    public static <R> long write(JavaRDD<Tuple2<String, R>> records, BatchDecoder<R> decoder, Broadcast<byte[]> model,
                                 int batchSize, List<String> classNames, String outDir, SerializableHadoopConf conf) {
        return records.mapPartitions((Iterator<Tuple2<String, R>> partition) -> {
            List<String> ids = new ArrayList<>();
            List<R> batch = new ArrayList<>();
            Path file = new Path(outDir, String.format("part-%05d.parquet", TaskContext.getPartitionId()));
            long written = 0;
            SimpleGroupFactory groups = new SimpleGroupFactory(SCHEMA);
            try (ParquetWriter<Group> writer = ExampleParquetWriter.builder(HadoopOutputFile.fromPath(file, conf.get()))
                    .withType(SCHEMA).withConf(conf.get()).withCompressionCodec(CompressionCodecName.UNCOMPRESSED)
                    .withWriteMode(org.apache.parquet.hadoop.ParquetFileWriter.Mode.OVERWRITE).build()) {
                while (partition.hasNext()) {
                    Tuple2<String, R> next = partition.next();
                    ids.add(next._1());
                    batch.add(next._2());
                    if (batch.size() == batchSize || !partition.hasNext()) {
                        List<Inference.Labelled> results = Inference.predictBatch(batch, decoder, model);
                        for (int i = 0; i < results.size(); i++) {
                            Prediction p = results.get(i).prediction();
                            Group row = groups.newGroup().append("id", ids.get(i)).append("label", results.get(i).label())
                                    .append("predicted", p.predictedClass())
                                    .append("predicted_class", classNames.get(p.predictedClass()));
                            Group list = row.addGroup("probabilities");
                            for (float probability : p.probabilities()) {
                                list.addGroup("list").append("element", probability);
                            }
                            writer.write(row);
                            written++;
                        }
                        ids.clear();
                        batch.clear();
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write predictions to " + file + ": " + e.getMessage(), e);
            }
            return List.of(written).iterator();
        }).reduce(Long::sum);
    }
}
