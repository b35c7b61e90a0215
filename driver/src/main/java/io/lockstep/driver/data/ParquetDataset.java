package io.lockstep.driver.data;

import io.lockstep.worker.data.BadRecordException;
import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.ImageProbe;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.SkippedRecord;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.util.HadoopInputFile;
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

import java.io.IOException;
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
    /** Footers read to find the largest row group after an executor ran out of heap: a few seconds' worth. */
    private static final int FOOTERS_READ = 1000;
    /** Below half of G1's smallest region (1 MB), so that no piece of a row group is a humongous object. */
    static final int READ_PIECE_BYTES = 256 << 10;
    /**
     * How the executors read a Parquet dataset of images, set in a session of its own so the caller's
     * SparkSession keeps its settings (Hadoop settings reach the readers through the session's conf).
     * <ul>
     * <li>Spark's vectorized reader decodes up to 4,096 rows at a time into one growing array per column:
     * with images of a megabyte that is gigabytes per task. The row-by-row reader holds one row group.</li>
     * <li>Parquet's vectored read (1.14+) reads a row group's column chunk into one array as large as the
     * chunk (32 MB for 40 images of 0.8 MB). On a 1 GB executor, whose heap G1 cuts into 1 MB regions, such
     * an array needs that many free regions in a row, while the cache's blocks and the images (every
     * array of half a region or more takes whole regions of its own, and G1 does not move them) break
     * the free space up: such a read can fail with OutOfMemoryError while much of the heap is free.
     * Read plainly, a chunk arrives in pieces of {@link #READ_PIECE_BYTES}, ordinary objects.</li>
     * <li>Spark cuts files into read tasks of 128 MB; the other formats' read units are
     * {@link DistributedDataset#UNIT_BYTES}, so that a task caches (and a lost task rereads) little.</li>
     * </ul>
     */
    private static final Map<String, String> READ_SETTINGS = Map.of(
            "spark.sql.parquet.enableVectorizedReader", "false",
            "parquet.hadoop.vectored.io.enabled", "false",
            "parquet.read.allocation.size", Integer.toString(READ_PIECE_BYTES),
            "spark.sql.files.maxPartitionBytes", Long.toString(DistributedDataset.UNIT_BYTES));

    private ParquetDataset() {
    }

    /** The training and test rows as records to cache, and what the driver learned about them (classes, counts). */
    record Frames(List<String> classes, JavaRDD<ReadRecord> records, int trainRows, int testRows, int partitions,
                  List<String> files) {
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
        List<String> inputFiles = new ArrayList<>(Arrays.asList(train.inputFiles()));
        if (test != null) {
            inputFiles.addAll(Arrays.asList(test.inputFiles()));
        }
        JavaRDD<ReadRecord> trainRecords;
        JavaRDD<ReadRecord> testRecords;
        long trainCount;
        long testCount;
        try {
            // zipWithIndex runs a job at once (the rows per read task), so it reads the files too.
            trainRecords = trainRows.zipWithIndex().map(t -> record(t._1(), false, t._2(), named, index, numClasses, policy, full));
            testRecords = testRows.zipWithIndex().map(t -> record(t._1(), true, t._2(), named, index, numClasses, policy, full));
            trainCount = trainRecords.count();
            testCount = testRecords.count();
        } catch (RuntimeException e) {
            throw whenOutOfHeap(sc, files.uri(), inputFiles, DistributedDataset.datasetError(files.uri(), e));
        }
        if (trainCount > Integer.MAX_VALUE || testCount > Integer.MAX_VALUE) {
            throw new DatasetException("--data: " + files.uri() + " has more than " + Integer.MAX_VALUE + " rows in a split; split it");
        }
        JavaRDD<ReadRecord> all = trainRecords.union(testRecords);
        return new Frames(classes, all, (int) trainCount, (int) testCount, all.getNumPartitions(), List.copyOf(inputFiles));
    }

    /**
     * {@code failure} of a job reading {@code files}, or, when an executor ran out of heap in it, an error that
     * names the largest row group of the files and the fixes: a read task holds a whole row group, so that
     * is the usual cause, and Spark's own error (a lost executor, a stack trace in the reader) names neither.
     * Reads the files' footers, only then.
     */
    static DatasetException whenOutOfHeap(JavaSparkContext sc, String uri, List<String> files, DatasetException failure) {
        if (!outOfHeap(failure)) {
            return failure;
        }
        String executorMemory = sc.master().startsWith("local") ? "the driver's heap (local mode, "
                + Runtime.getRuntime().maxMemory() / (1 << 20) + " MB)" : "executors of spark.executor.memory="
                + sc.getConf().get("spark.executor.memory", "1g");
        String largest;
        try {
            RowGroup group = largestRowGroup(sc.hadoopConfiguration(), files);
            largest = group == null ? "the files hold no row groups" : "its largest row group is row group " + group.index()
                    + " of " + group.file() + ": " + String.format(java.util.Locale.ROOT, "%.1f", group.bytes() / (double) (1 << 20)) + " MB in " + group.rows() + " rows";
        } catch (IOException | RuntimeException e) {
            largest = "its row groups could not be measured (" + e.getMessage() + ")";
        }
        return new DatasetException("--data: " + uri + ": an executor ran out of heap reading the Parquet files with "
                + executorMemory + "; a read task holds a whole row group of the image column, and " + largest
                + ". Rewrite the files in smaller row groups (tens of MB; Spark's writer: parquet.block.size, and for large"
                + " images parquet.block.row.count.limit) or give the executors more memory (spark.executor.memory)",
                failure);
    }

    private static boolean outOfHeap(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof OutOfMemoryError || String.valueOf(t.getMessage()).contains("java.lang.OutOfMemoryError")) {
                return true;
            }
        }
        return false;
    }

    /** A row group of a file: its index in the file, rows, and bytes on disk (what a reader holds). */
    record RowGroup(String file, int index, long rows, long bytes) {
    }

    /** The largest row group of the first {@link #FOOTERS_READ} files (footers only), or null if none holds one. */
    static RowGroup largestRowGroup(org.apache.hadoop.conf.Configuration conf, List<String> files) throws IOException {
        RowGroup largest = null;
        for (String file : files.subList(0, Math.min(files.size(), FOOTERS_READ))) {
            try (ParquetFileReader reader = ParquetFileReader.open(HadoopInputFile.fromPath(new Path(file), conf))) {
                List<BlockMetaData> blocks = reader.getFooter().getBlocks();
                for (int i = 0; i < blocks.size(); i++) {
                    if (largest == null || blocks.get(i).getCompressedSize() > largest.bytes()) {
                        largest = new RowGroup(file, i, blocks.get(i).getRowCount(), blocks.get(i).getCompressedSize());
                    }
                }
            }
        }
        return largest;
    }

    private static Dataset<Row> frame(SparkSession spark, Path dir, String imageColumn, String labelColumn) {
        SparkSession reading = spark.newSession();
        READ_SETTINGS.forEach(reading.conf()::set);
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
