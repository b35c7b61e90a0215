package io.lockstep.driver.data;

import io.lockstep.worker.data.BadRecordException;
import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.ImageProbe;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.SkippedRecord;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.IntegralType;
import org.apache.spark.sql.types.StringType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.CRC32;

/**
 * Parquet datasets, read by Spark SQL on the executors: each row holds an encoded image (PNG/JPEG
 * bytes, e.g. the {@code content} column Spark's {@code binaryFile} source gives) and a label, either
 * a class index (integer) or a class name (string; classes are the sorted distinct names). Splits:
 * {@code ROOT/train/} and {@code ROOT/val/} (or {@code test/}) when present, otherwise the rows of ROOT
 * split by a stable hash of the image bytes ({@code --val-fraction}). Rows are numbered in Spark's
 * reading order, which is fixed for a fixed set of files. A row without an image or label, or with an
 * unreadable image, fails naming the row and its file, or is skipped under {@code --bad-records skip}.
 */
final class ParquetDataset {
    static final String DEFAULT_IMAGE_COLUMN = "image";
    static final String DEFAULT_LABEL_COLUMN = "label";
    private static final String FILE_COLUMN = "_lockstep_file";

    private ParquetDataset() {
    }

    /** The training and test rows as records to cache, and what the driver learned about them (classes, counts). */
    record Frames(List<String> classes, JavaRDD<ReadRecord> records, int trainRows, int testRows, int partitions) {
    }

    /** Whether the root (or its {@code train/} folder) holds Parquet files. */
    static boolean present(DatasetFiles files) {
        Path train = files.dirIn(files.root(), "train");
        return hasParquet(files, files.root()) || train != null && hasParquet(files, train);
    }

    private static boolean hasParquet(DatasetFiles files, Path dir) {
        for (FileStatus s : files.list(dir)) {
            if (s.isFile() && s.getPath().getName().endsWith(".parquet")) {
                return true;
            }
        }
        return false;
    }

    static Frames read(JavaSparkContext sc, DatasetFiles files, DatasetOptions options, String imageColumn, String labelColumn) {
        SparkSession spark = SparkSession.builder().sparkContext(sc.sc()).getOrCreate();
        Path trainDir = files.dirIn(files.root(), "train");
        Path heldOutDir = files.dirIn(files.root(), "val") != null ? files.dirIn(files.root(), "val") : files.dirIn(files.root(), "test");
        boolean splitByHash = trainDir == null || heldOutDir == null;
        Dataset<Row> train = frame(spark, splitByHash ? files.root() : trainDir, imageColumn, labelColumn);
        Dataset<Row> test = splitByHash ? null : frame(spark, heldOutDir, imageColumn, labelColumn);
        boolean named = train.schema().apply(labelColumn).dataType() instanceof StringType;
        List<String> classes = named ? names(train, labelColumn) : indices(train, labelColumn);
        Map<String, Integer> index = new TreeMap<>();
        for (int i = 0; i < classes.size(); i++) {
            index.put(classes.get(i), i);
        }
        int numClasses = classes.size();
        BadRecordPolicy policy = options.badRecords();
        boolean full = options.decodeWhenRead();
        double valFraction = options.valFraction();
        JavaRDD<Row> trainRows = rows(train, imageColumn, labelColumn);
        JavaRDD<Row> testRows = splitByHash ? trainRows : rows(test, imageColumn, labelColumn);
        if (splitByHash) {
            trainRows = trainRows.filter(row -> !heldOut(row, valFraction));
            testRows = testRows.filter(row -> heldOut(row, valFraction));
        }
        JavaRDD<ReadRecord> trainRecords = trainRows.zipWithIndex()
                .map(t -> record(t._1(), false, t._2(), named, index, numClasses, policy, full));
        JavaRDD<ReadRecord> testRecords = testRows.zipWithIndex()
                .map(t -> record(t._1(), true, t._2(), named, index, numClasses, policy, full));
        long trainCount;
        long testCount;
        try {
            trainCount = trainRecords.count();
            testCount = testRecords.count();
        } catch (Exception e) {
            throw DistributedDataset.datasetError(files.uri(), e);
        }
        if (trainCount > Integer.MAX_VALUE || testCount > Integer.MAX_VALUE) {
            throw new DatasetException("--data: " + files.uri() + " has more than " + Integer.MAX_VALUE + " rows in a split; split it");
        }
        JavaRDD<ReadRecord> all = trainRecords.union(testRecords);
        return new Frames(classes, all, (int) trainCount, (int) testCount, all.getNumPartitions());
    }

    private static Dataset<Row> frame(SparkSession spark, Path dir, String imageColumn, String labelColumn) {
        // Spark's vectorized Parquet reader decodes up to 4,096 rows at a time into one growing array per
        // column: with images of a megabyte that is gigabytes per task, and executors of a few GB run out of
        // heap. The row-by-row reader holds one row group's pages. Set in a session of its own, so the
        // caller's SparkSession keeps its settings.
        SparkSession reading = spark.newSession();
        reading.conf().set("spark.sql.parquet.enableVectorizedReader", "false");
        Dataset<Row> frame;
        try {
            frame = reading.read().parquet(dir.toString());
        } catch (RuntimeException e) {
            throw new DatasetException("--data: cannot read the Parquet files in " + dir + ": " + e.getMessage(), e);
        }
        List<String> columns = Arrays.asList(frame.schema().fieldNames());
        if (!columns.contains(imageColumn)) {
            throw new DatasetException("--image-column: the Parquet files in " + dir + " have no column '" + imageColumn + "' (columns: "
                    + String.join(", ", columns) + "); pass --image-column with the column of encoded images");
        }
        if (!columns.contains(labelColumn)) {
            throw new DatasetException("--label-column: the Parquet files in " + dir + " have no column '" + labelColumn + "' (columns: "
                    + String.join(", ", columns) + "); pass --label-column with the column of class indices or names");
        }
        DataType image = frame.schema().apply(imageColumn).dataType();
        if (!(image instanceof BinaryType)) {
            throw new DatasetException("--image-column: column '" + imageColumn + "' of " + dir + " is " + image.simpleString()
                    + "; it must hold encoded PNG/JPEG bytes (binary), as spark.read().format(\"binaryFile\") gives in 'content'");
        }
        DataType label = frame.schema().apply(labelColumn).dataType();
        if (!(label instanceof IntegralType) && !(label instanceof StringType)) {
            throw new DatasetException("--label-column: column '" + labelColumn + "' of " + dir + " is " + label.simpleString()
                    + "; it must hold class indices (an integer type) or class names (string)");
        }
        return frame.withColumn(FILE_COLUMN, functions.input_file_name());
    }

    private static JavaRDD<Row> rows(Dataset<Row> frame, String imageColumn, String labelColumn) {
        return frame.select(imageColumn, labelColumn, FILE_COLUMN).javaRDD();
    }

    /** Class names: the sorted distinct values (a collect of at most the number of classes). */
    private static List<String> names(Dataset<Row> frame, String labelColumn) {
        List<String> names = new ArrayList<>();
        for (Row row : frame.select(labelColumn).where(functions.col(labelColumn).isNotNull()).distinct().collectAsList()) {
            names.add(row.getString(0));
        }
        names.sort(null);
        return List.copyOf(names);
    }

    /** Classes "0".."max" of an index column. */
    private static List<String> indices(Dataset<Row> frame, String labelColumn) {
        Row range = frame.agg(functions.min(labelColumn), functions.max(labelColumn)).first();
        if (range.isNullAt(1)) {
            throw new DatasetException("--data: the Parquet files have no rows with a label in '" + labelColumn + "'");
        }
        long min = ((Number) range.get(0)).longValue();
        long max = ((Number) range.get(1)).longValue();
        if (min < 0 || max > 100_000) {
            throw new DatasetException("--label-column: class indices must be 0..N-1, but '" + labelColumn + "' holds values from "
                    + min + " to " + max + "; give class indices from 0, or class names as strings");
        }
        List<String> classes = new ArrayList<>();
        for (long c = 0; c <= max; c++) {
            classes.add(Long.toString(c));
        }
        return List.copyOf(classes);
    }

    private static boolean heldOut(Row row, double valFraction) {
        byte[] image = row.isNullAt(0) ? new byte[0] : (byte[]) row.get(0);
        CRC32 crc = new CRC32();
        crc.update(image);
        return crc.getValue() < valFraction * (1L << 32);
    }

    private static ReadRecord record(Row row, boolean test, long id, boolean named, Map<String, Integer> index, int numClasses,
                                     BadRecordPolicy policy, boolean full) {
        String source = (test ? "test" : "train") + " row " + id + " (" + row.getString(2) + ")";
        try {
            if (row.isNullAt(1)) {
                throw new BadRecordException(source, "has no label");
            }
            int label;
            if (named) {
                Integer found = index.get(row.getString(1));
                if (found == null) {
                    throw new BadRecordException(source, "has the label '" + row.getString(1) + "', which is not a class of the"
                            + " training rows");
                }
                label = found;
            } else {
                long value = ((Number) row.get(1)).longValue();
                if (value < 0 || value >= numClasses) {
                    throw new BadRecordException(source, "has the class index " + value + ", outside 0.." + (numClasses - 1)
                            + " of the training rows");
                }
                label = (int) value;
            }
            if (row.isNullAt(0)) {
                throw new BadRecordException(source, "has no image");
            }
            byte[] bytes = (byte[]) row.get(0);
            ImageProbe.ImageInfo info = ImageProbe.probe(bytes, source, full);
            return new ReadRecord(test, (int) id, new LabeledRecord(label, bytes, source), null, info.format(), info.width(),
                    info.height(), info.channels(), info.alpha());
        } catch (BadRecordException e) {
            if (policy == BadRecordPolicy.FAIL) {
                throw new DatasetException(DistributedDataset.withSkipHint(e.getMessage()), e);
            }
            return new ReadRecord(test, (int) id, null, new SkippedRecord(source, e.getMessage()), null, 0, 0, 0, false);
        }
    }
}
