package io.lockstep.driver.data;

import io.lockstep.driver.train.TrainingInput;
import io.lockstep.models.InputShape;
import io.lockstep.worker.data.AugmentRandom;
import io.lockstep.worker.data.BadRecordException;
import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.ChannelStatistics;
import io.lockstep.worker.data.ImageBatchDecoder;
import io.lockstep.worker.data.ImageTransform;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.Normalizer;
import io.lockstep.worker.data.RecordDecoder;
import io.lockstep.worker.data.RecordFormat;
import io.lockstep.worker.data.SkippedRecord;
import io.lockstep.worker.spark.SerializableHadoopConf;
import io.lockstep.worker.train.BatchDecoder;
import org.apache.hadoop.fs.BlockLocation;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.rdd.RDD;
import org.apache.spark.storage.StorageLevel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;
import scala.collection.JavaConverters;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.Serial;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A dataset that the driver only lists and the executors read: the driver learns file names, sizes,
 * classes and (for IDX and CIFAR) record counts and byte offsets, and splits them into read units;
 * executors read the units straight from the filesystem (tasks placed on the hosts that hold the
 * bytes), check each image as the driver-side reader does, and keep the records cached serialized
 * in memory and on disk. The driver's memory grows with the number of files, never with their bytes.
 * Parquet datasets ({@link ParquetDataset}) are read by Spark SQL on the executors the same way, and
 * tar shards ({@link TarShards}) one executor task per shard.
 *
 * <p>Record ids are the same as {@link DatasetSource}'s: a split's records in listing order, records
 * left out under {@code --bad-records skip} removed before numbering. The same seed therefore gives
 * the same epoch plans, batches and trained parameters on either path, and a skipped file never
 * leaves a replica with a short batch.
 *
 * <p>Create with {@link #open}, which runs one Spark job (reading and caching every record, and
 * collecting per read unit the class counts, the bad records and the image survey); call
 * {@link #release()} when training is done. Used from the driver thread only.
 */
public final class DistributedDataset implements TrainingInput<LabeledRecord> {
    private static final Logger LOG = LoggerFactory.getLogger(DistributedDataset.class);
    /** Read units stay near this size so a lost task rereads little and tasks spread over executors. */
    static final long UNIT_BYTES = 32L << 20;
    static final int UNIT_FILES = 4096;
    /** Parquet datasets: the columns of images and labels unless the job names others. */
    public static final String DEFAULT_IMAGE_COLUMN = ParquetDataset.DEFAULT_IMAGE_COLUMN;
    public static final String DEFAULT_LABEL_COLUMN = ParquetDataset.DEFAULT_LABEL_COLUMN;

    private final String uri;
    private final String format;
    private final List<String> classNames;
    private final RecordFormat recordFormat;
    private final ImageTransform transform;
    private final BadRecordPolicy policy;
    private final JavaRDD<ReadRecord> read;
    private final int trainSize;
    private final int testSize;
    private final Broadcast<int[]> badTrain;
    private final Broadcast<int[]> badTest;
    private final List<SkippedRecord> skipped;
    private final int skippedCount;
    private final Facts facts;
    private final int units;

    /** What the read job counted, kept for reports: records per class of each split and the image survey. */
    /** What the read job counted: records per class of each split, the images' survey, and how many partitions hold each split. */
    private record Facts(int[] trainCounts, int[] testCounts, ImageSurvey survey, int trainPartitions, int testPartitions) {
    }

    private DistributedDataset(String uri, String format, List<String> classNames, RecordFormat recordFormat,
                               ImageTransform transform, BadRecordPolicy policy, JavaRDD<ReadRecord> read, int trainSize,
                               int testSize, Broadcast<int[]> badTrain, Broadcast<int[]> badTest, List<SkippedRecord> skipped,
                               int skippedCount, Facts facts, int units) {
        this.uri = uri;
        this.format = format;
        this.classNames = classNames;
        this.recordFormat = recordFormat;
        this.transform = transform;
        this.policy = policy;
        this.read = read;
        this.trainSize = trainSize;
        this.testSize = testSize;
        this.badTrain = badTrain;
        this.badTest = badTest;
        this.skipped = skipped;
        this.skippedCount = skippedCount;
        this.facts = facts;
        this.units = units;
    }

    /** What the driver's listing found: the read units and what the format says about the records. */
    private record Listing(String format, List<String> classes, RecordFormat recordFormat, InputShape nativeShape,
                           List<ReadUnit> units, int listedTrain, int listedTest, List<SkippedRecord> skipped) {
    }

    /**
     * Lists {@code uri}, reads and caches its records on the executors, and settles the model's input.
     *
     * @throws DatasetException when the dataset is missing, empty, of an unknown format, or has a bad file
     *                          (under {@code --bad-records fail}); the message names the file and the fix
     */
    public static DistributedDataset open(JavaSparkContext sc, String uri, DatasetOptions options) {
        return open(sc, uri, options, ParquetDataset.DEFAULT_IMAGE_COLUMN, ParquetDataset.DEFAULT_LABEL_COLUMN);
    }

    /**
     * Like {@link #open(JavaSparkContext, String, DatasetOptions)}; a Parquet dataset takes its images and
     * labels from these columns.
     */
    public static DistributedDataset open(JavaSparkContext sc, String uri, DatasetOptions options, String imageColumn,
                                          String labelColumn) {
        return open(sc, uri, options, imageColumn, labelColumn, null);
    }

    /**
     * Like {@link #open(JavaSparkContext, String, DatasetOptions, String, String)}, but an image folder (or
     * Parquet or tar dataset) of mixed sizes without {@code --image-size} is resized to {@code fallbackSize}
     * instead of failing, as {@link DatasetSource} does for {@code inspect-data}. Null: fail.
     */
    static DistributedDataset open(JavaSparkContext sc, String uri, DatasetOptions options, String imageColumn,
                                   String labelColumn, Integer fallbackSize) {
        options.validate();
        long start = System.nanoTime();
        DatasetFiles files = DatasetFiles.open(uri, sc.hadoopConfiguration());
        if (ParquetDataset.present(files)) {
            ParquetDataset.Frames frames = ParquetDataset.read(sc, files, options, imageColumn, labelColumn);
            Listing listing = new Listing("parquet", frames.classes(), RecordFormat.encoded(), null, List.of(),
                    frames.trainRows(), frames.testRows(), List.of());
            try {
                return cache(sc, uri, options, listing, frames.records(), frames.partitions(), start, fallbackSize);
            } catch (DatasetException e) {
                throw ParquetDataset.whenOutOfHeap(sc, uri, frames.files(), e);
            }
        }
        Listing listing = list(sc, files, options);
        int numClasses = listing.classes().size();
        ReadUnit.Context context = new ReadUnit.Context(new SerializableHadoopConf(sc.hadoopConfiguration()), uri,
                options.badRecords(), options.decodeWhenRead(), numClasses);
        List<Tuple2<ReadUnit, scala.collection.immutable.List<String>>> placed = new ArrayList<>();
        for (ReadUnit unit : listing.units()) {
            placed.add(new Tuple2<>(unit, JavaConverters.asScalaBuffer(Arrays.asList(unit.hosts())).toList()));
        }
        ClassTag<ReadUnit> tag = ClassTag$.MODULE$.apply(ReadUnit.class);
        // makeRDD takes Seq[(T, Seq[String])], whose Seq is collection.Seq in Scala 2.12 and immutable.Seq in
        // 2.13; an immutable List is both, passed raw so one source compiles for Spark 3.5 and 4.
        @SuppressWarnings({"unchecked", "rawtypes"})
        RDD<ReadUnit> unitRdd = sc.sc().makeRDD((scala.collection.immutable.Seq) JavaConverters.asScalaBuffer(placed).toList(), tag);
        JavaRDD<ReadRecord> read = JavaRDD.fromRDD(unitRdd, tag).flatMap(unit -> unit.read(context));
        return cache(sc, uri, options, listing, read, listing.units().size(), start, fallbackSize);
    }

    /** Whether {@code uri} is a dataset only the executors read: Parquet files or tar shards. */
    public static boolean readOnExecutorsOnly(String uri, org.apache.hadoop.conf.Configuration conf) {
        DatasetFiles files = DatasetFiles.open(uri, conf);
        return ParquetDataset.present(files) || TarShards.present(files);
    }

    /** Caches {@code records}, learns from one pass over them what the listing could not, and settles the input. */
    private static DistributedDataset cache(JavaSparkContext sc, String uri, DatasetOptions options, Listing listing,
                                            JavaRDD<ReadRecord> records, int units, long start, Integer fallbackSize) {
        int numClasses = listing.classes().size();
        JavaRDD<ReadRecord> read = records.persist(StorageLevel.MEMORY_AND_DISK_SER());
        sc.sc().setJobDescription("lockstep: read and cache " + uri + " (" + units + " read units)");
        boolean raw = !listing.recordFormat().isEncoded();
        ReadSummary summary;
        try {
            summary = read.mapPartitions(it -> List.of(ReadSummary.of(it, numClasses, raw))
                    .iterator()).reduce(ReadSummary::merge);
        } catch (Exception e) {
            read.unpersist(false);
            throw datasetError(uri, e);
        } finally {
            sc.sc().setJobDescription(null);
        }
        try {
            checkClasses(listing, summary);
            int trainSize = listing.listedTrain() - summary.badTrain.size();
            int testSize = listing.listedTest() - summary.badTest.size();
            if (trainSize == 0) {
                throw new DatasetException("--data: " + uri + " has no training records" + (summary.skippedCount == 0 ? "; the dataset is empty"
                        : " left after skipping " + summary.skippedCount + " bad records"));
            }
            if (testSize == 0) {
                throw new DatasetException("--data: " + uri + " has no test records; a dataset needs a test split to report accuracy"
                        + (listing.format().equals("image-folder") || listing.format().equals("parquet")
                        || listing.format().equals("tar-shards")
                        ? " (add val/ or raise --val-fraction)" : ""));
            }
            List<SkippedRecord> skipped = new ArrayList<>(listing.skipped());
            skipped.addAll(summary.skipped);
            if (summary.skippedCount > 0) {
                LOG.warn("skipped {} bad records (--bad-records skip), first by name: {}", summary.skippedCount, summary.skipped.get(0));
            }
            Broadcast<int[]> badTrain = sc.broadcast(summary.badTrain.sorted());
            Broadcast<int[]> badTest = sc.broadcast(summary.badTest.sorted());
            DatasetContent content = new DatasetContent(listing.format(), listing.classes(), listing.recordFormat(), List.of(),
                    List.of(), listing.nativeShape(), skipped, summary.survey);
            DatasetOptions withoutAuto = options.autoNormalize() ? options.withNormalize("none") : options;
            if (fallbackSize != null && options.imageHeight() == null && listing.nativeShape() == null
                    && summary.survey != null && summary.survey.commonSize() == null) {
                withoutAuto = withoutAuto.withImageSize(fallbackSize, fallbackSize);
            }
            ImageTransform transform = DatasetSource.transformFor(content, withoutAuto, uri);
            if (options.autoNormalize()) {
                Normalizer normalizer = normalizer(read, listing.recordFormat(), transform, trainSize, badTrain, options.badRecords());
                LOG.info("--normalize auto: training set statistics {}", normalizer.format());
                transform = transform.withNormalizer(normalizer);
            }
            DistributedDataset dataset = new DistributedDataset(uri, listing.format(), listing.classes(), listing.recordFormat(),
                    transform, options.badRecords(), read, trainSize, testSize, badTrain, badTest, List.copyOf(skipped),
                    listing.skipped().size() + summary.skippedCount,
                    new Facts(summary.perClassTrain, summary.perClassTest, summary.survey, summary.partitionsWithTrain,
                            summary.partitionsWithTest), units);
            LOG.info("listed and read on the executors {} in {} ms", dataset.describe(), (System.nanoTime() - start) / 1_000_000);
            return dataset;
        } catch (RuntimeException e) {
            read.unpersist(false);
            throw e;
        }
    }

    private static void checkClasses(Listing listing, ReadSummary summary) {
        if (!listing.format().equals("image-folder")) {
            return;
        }
        for (int label = 0; label < listing.classes().size(); label++) {
            if (summary.perClassTrain[label] == 0) {
                throw new DatasetException("class '" + listing.classes().get(label) + "' has no training images left"
                        + (summary.skippedCount == 0 ? "" : " (" + summary.skippedCount + " records were skipped as unreadable)")
                        + "; without train/ and val/ folders a class of very few images can lose them all to the test split"
                        + " (--val-fraction); add images to its folder or remove it");
            }
        }
    }

    /**
     * The executor's error (a bad file under {@code --bad-records fail}) as the driver-side reader would
     * report it. Spark rethrows a task's exception as a {@code SparkException} that carries it in its
     * message only, so the message is taken from there.
     */
    static DatasetException datasetError(String uri, Exception e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof DatasetException d) {
                return new DatasetException(d.getMessage(), e);
            }
        }
        String message = String.valueOf(e.getMessage());
        String marker = DatasetException.class.getName() + ": ";
        int at = message.indexOf(marker);
        if (at >= 0) {
            String rest = message.substring(at + marker.length());
            int end = rest.indexOf('\n');
            return new DatasetException(end < 0 ? rest : rest.substring(0, end), e);
        }
        return new DatasetException("reading " + uri + " on the executors failed: " + message, e);
    }

    /**
     * For a file an executor cannot find: when it is on a local filesystem, what that usually means (the
     * executor runs on another host than the driver that listed it) and the two fixes; empty otherwise.
     */
    static String localPathHint(String file) {
        String scheme = new Path(file).toUri().getScheme();
        return scheme == null || scheme.equals("file")
                ? " (a local path must exist on every executor's host: put the dataset on a filesystem all hosts share, or"
                + " read it on the driver with --read-on driver)"
                : "";
    }

    /** {@code message}, with the option that skips bad records named unless it already is. */
    static String withSkipHint(String message) {
        return message.contains("--bad-records") ? message : message + " (run with --bad-records skip to leave it out)";
    }

    // ---- listing (driver) ----

    private static Listing list(JavaSparkContext sc, DatasetFiles files, DatasetOptions options) {
        if (TarShards.present(files)) {
            ReadUnit.Context scan = new ReadUnit.Context(new SerializableHadoopConf(sc.hadoopConfiguration()), files.uri(),
                    options.badRecords(), false, 0);
            TarShards.Found found = TarShards.list(sc, files, options, scan, UNIT_BYTES);
            return new Listing("tar-shards", found.classes(), RecordFormat.encoded(), null, found.units(), found.train(),
                    found.test(), found.skipped());
        }
        if (IdxDataset.present(files)) {
            return listIdx(files, options);
        }
        Path cifar = CifarDataset.locate(files);
        if (cifar != null) {
            return listCifar(files, cifar);
        }
        if (ImageFolderDataset.present(files)) {
            return listImages(files, options);
        }
        throw DatasetSource.unknownFormat(files);
    }

    private static Listing listImages(DatasetFiles files, DatasetOptions options) {
        ImageFolderDataset.Listing found = ImageFolderDataset.list(files, options);
        // Ids in listing order per split, as the driver-side reader numbers them; grouping by host keeps reads local.
        Map<String, List<Integer>> byHost = new LinkedHashMap<>();
        int[] ids = new int[found.candidates().size()];
        int train = 0;
        int test = 0;
        for (int i = 0; i < ids.length; i++) {
            ImageFolderDataset.Candidate c = found.candidates().get(i);
            ids[i] = c.test() ? test++ : train++;
            byHost.computeIfAbsent(c.hosts().length == 0 ? "" : c.hosts()[0], h -> new ArrayList<>()).add(i);
        }
        List<ReadUnit> units = new ArrayList<>();
        for (Map.Entry<String, List<Integer>> group : byHost.entrySet()) {
            List<Integer> members = group.getValue();
            int from = 0;
            while (from < members.size()) {
                long bytes = 0;
                int to = from;
                while (to < members.size() && to - from < UNIT_FILES && (to == from || bytes < UNIT_BYTES)) {
                    bytes += found.candidates().get(members.get(to)).length();
                    to++;
                }
                units.add(imageUnit(found.candidates(), ids, members.subList(from, to), group.getKey()));
                from = to;
            }
        }
        return new Listing("image-folder", List.copyOf(found.classes()), RecordFormat.encoded(), null, units, train, test,
                found.skipped());
    }

    private static ReadUnit imageUnit(List<ImageFolderDataset.Candidate> candidates, int[] ids, List<Integer> members, String host) {
        int n = members.size();
        String[] paths = new String[n];
        String[] relatives = new String[n];
        long[] lengths = new long[n];
        int[] labels = new int[n];
        boolean[] test = new boolean[n];
        int[] unitIds = new int[n];
        for (int k = 0; k < n; k++) {
            ImageFolderDataset.Candidate c = candidates.get(members.get(k));
            paths[k] = c.path().toString();
            relatives[k] = c.relative();
            lengths[k] = c.length();
            labels[k] = c.label();
            test[k] = c.test();
            unitIds[k] = ids[members.get(k)];
        }
        return new ImageFilesUnit(paths, relatives, lengths, labels, test, unitIds, host.isEmpty() ? new String[0] : new String[]{host});
    }

    private static Listing listIdx(DatasetFiles files, DatasetOptions options) {
        int numClasses = options.numClasses() == null ? IdxDataset.DEFAULT_CLASSES : options.numClasses();
        List<String> missing = new ArrayList<>();
        for (String name : IdxDataset.FILES) {
            if (IdxDataset.find(files, name) == null) {
                missing.add(name + "[.gz]");
            }
        }
        if (!missing.isEmpty()) {
            throw new DatasetException("--data: " + files.uri() + " looks like an IDX dataset but lacks " + String.join(", ", missing)
                    + "; an IDX dataset directory holds all four of " + String.join(", ", IdxDataset.FILES) + " (each optionally .gz)");
        }
        List<ReadUnit> units = new ArrayList<>();
        int[] train = idxSplit(files, IdxDataset.find(files, IdxDataset.TRAIN_IMAGES), IdxDataset.find(files, IdxDataset.TRAIN_LABELS),
                false, units);
        int[] test = idxSplit(files, IdxDataset.find(files, IdxDataset.TEST_IMAGES), IdxDataset.find(files, IdxDataset.TEST_LABELS),
                true, units);
        if (train[1] != test[1] || train[2] != test[2]) {
            throw new DatasetException(IdxDataset.find(files, IdxDataset.TEST_IMAGES) + " holds " + test[1] + "x" + test[2]
                    + " images but " + IdxDataset.find(files, IdxDataset.TRAIN_IMAGES) + " holds " + train[1] + "x" + train[2]
                    + "; both splits must have the same image size");
        }
        List<String> classes = new ArrayList<>(numClasses);
        for (int c = 0; c < numClasses; c++) {
            classes.add(Integer.toString(c));
        }
        return new Listing("idx", List.copyOf(classes), RecordFormat.raw(1, train[1], train[2]), new InputShape(1, train[1], train[2]),
                units, train[0], test[0], List.of());
    }

    /** Reads the two headers, checks them against each other and the file sizes, adds the split's units; returns {count, rows, cols}. */
    private static int[] idxSplit(DatasetFiles files, Path imagesFile, Path labelsFile, boolean test, List<ReadUnit> units) {
        int[] header;
        int labels;
        try (DataInputStream in = new DataInputStream(files.open(imagesFile))) {
            header = IdxFiles.imagesHeader(in, imagesFile);
        } catch (IOException e) {
            throw new DatasetException(imagesFile + " is truncated: the file ends inside its header; download it again", e);
        }
        try (DataInputStream in = new DataInputStream(files.open(labelsFile))) {
            labels = IdxFiles.labelsHeader(in, labelsFile);
        } catch (IOException e) {
            throw new DatasetException(labelsFile + " is truncated: the file ends inside its header; download it again", e);
        }
        int count = header[0];
        int pixels = header[1] * header[2];
        if (count != labels) {
            throw new DatasetException(imagesFile + " holds " + count + " images but " + labelsFile + " holds " + labels
                    + " labels; each image needs exactly one label (are the files from the same dataset and split?)");
        }
        if (count == 0) {
            throw new DatasetException(imagesFile + " holds no images; the dataset is empty");
        }
        boolean gz = imagesFile.getName().endsWith(".gz") || labelsFile.getName().endsWith(".gz");
        if (!imagesFile.getName().endsWith(".gz") && files.length(imagesFile) != 16 + (long) count * pixels) {
            throw new DatasetException(imagesFile + " is " + files.length(imagesFile) + " bytes but its header declares " + count
                    + " images of " + header[1] + "x" + header[2] + " (" + (16 + (long) count * pixels) + " bytes); the file is"
                    + " truncated or damaged: download it again");
        }
        if (!labelsFile.getName().endsWith(".gz") && files.length(labelsFile) != 8 + (long) count) {
            throw new DatasetException(labelsFile + " is " + files.length(labelsFile) + " bytes but its header declares " + count
                    + " labels; the file is truncated or damaged: download it again");
        }
        int perUnit = gz ? count : (int) Math.max(1, UNIT_BYTES / pixels);
        for (int first = 0; first < count; first += perUnit) {
            int n = Math.min(perUnit, count - first);
            units.add(new FixedRecordsUnit(imagesFile.toString(), 16, 0, pixels, labelsFile.toString(), 8, test, first, n, first,
                    hosts(files, imagesFile, 16 + (long) first * pixels, (long) n * pixels)));
        }
        return new int[]{count, header[1], header[2]};
    }

    private static Listing listCifar(DatasetFiles files, Path dir) {
        boolean cifar100 = files.fileIn(dir, CifarDataset.CIFAR10_TRAIN.get(0)) == null && files.fileIn(dir, CifarDataset.CIFAR10_TEST) == null;
        List<String> trainNames = cifar100 ? List.of(CifarDataset.CIFAR100_TRAIN) : CifarDataset.CIFAR10_TRAIN;
        String testName = cifar100 ? CifarDataset.CIFAR100_TEST : CifarDataset.CIFAR10_TEST;
        String kind = cifar100 ? "CIFAR-100" : "CIFAR-10";
        List<String> all = new ArrayList<>(trainNames);
        all.add(testName);
        List<String> missing = all.stream().filter(name -> files.fileIn(dir, name) == null).toList();
        if (!missing.isEmpty()) {
            throw new DatasetException("--data: " + dir + " looks like " + kind + " but lacks " + String.join(", ", missing)
                    + "; the binary " + kind + " set has " + String.join(", ", all));
        }
        List<String> classes = cifar100
                ? CifarDataset.names(files, dir, "fine_label_names.txt", CifarDataset.CIFAR100_CLASSES)
                : CifarDataset.names(files, dir, "batches.meta.txt", CifarDataset.CIFAR10_CLASSES);
        int labelBytes = cifar100 ? 2 : 1;
        List<ReadUnit> units = new ArrayList<>();
        int train = 0;
        for (String name : trainNames) {
            train += cifarFile(files, new Path(dir, name), kind, labelBytes, false, train, units);
        }
        int test = cifarFile(files, new Path(dir, testName), kind, labelBytes, true, 0, units);
        return new Listing(cifar100 ? "cifar-100" : "cifar-10", classes, RecordFormat.raw(3, 32, 32), new InputShape(3, 32, 32),
                units, train, test, List.of());
    }

    private static int cifarFile(DatasetFiles files, Path file, String kind, int labelBytes, boolean test, int firstId,
                                 List<ReadUnit> units) {
        int recordSize = labelBytes + CifarDataset.PIXELS;
        long length = files.length(file);
        if (length == 0 || length % recordSize != 0) {
            throw new DatasetException(file + " is " + length + " bytes, not a whole number of " + kind + " records of " + recordSize
                    + " bytes; the file is " + (length == 0 ? "empty" : "truncated") + " or not " + kind
                    + " binary data: download the binary version again");
        }
        int count = (int) (length / recordSize);
        int perUnit = (int) Math.max(1, UNIT_BYTES / recordSize);
        for (int first = 0; first < count; first += perUnit) {
            int n = Math.min(perUnit, count - first);
            units.add(new FixedRecordsUnit(file.toString(), 0, labelBytes, CifarDataset.PIXELS, null, 0, test, first, n,
                    firstId + first, hosts(files, file, (long) first * recordSize, (long) n * recordSize)));
        }
        return count;
    }

    private static String[] hosts(DatasetFiles files, Path file, long offset, long length) {
        try {
            BlockLocation[] blocks = files.fs().getFileBlockLocations(files.fs().getFileStatus(file), offset, length);
            return blocks.length == 0 ? new String[0] : blocks[0].getHosts();
        } catch (IOException e) {
            LOG.debug("no block locations for {}: {}", file, e.getMessage());
            return new String[0];
        }
    }

    // ---- executor-side views of the cache ----

    /** A listing id's dense index: the id minus the bad records listed before it. */
    static int dense(int id, int[] sortedBad) {
        if (sortedBad.length == 0) {
            return id;
        }
        int at = Arrays.binarySearch(sortedBad, id);
        return id - (at >= 0 ? at : -at - 1);
    }

    @Override
    public List<String> classNames() {
        return classNames;
    }

    @Override
    public InputShape shape() {
        return transform.shape();
    }

    @Override
    public int trainSize() {
        return trainSize;
    }

    public int testSize() {
        return testSize;
    }

    @Override
    public JavaPairRDD<Integer, LabeledRecord> train(JavaSparkContext sc, int replicas) {
        return split(false, badTrain);
    }

    @Override
    public JavaPairRDD<Integer, LabeledRecord> test(JavaSparkContext sc, int replicas) {
        return split(true, badTest);
    }

    private JavaPairRDD<Integer, LabeledRecord> split(boolean test, Broadcast<int[]> bad) {
        return read.filter(r -> r.test == test && r.good()).mapToPair(r -> new Tuple2<>(dense(r.id, bad.value()), r.record));
    }

    /**
     * How many partitions of the cached records hold records of one split: a split read from fewer
     * units than there are cores leaves cores idle in a job over it alone.
     */
    public int partitionsHolding(boolean test) {
        return test ? facts.testPartitions() : facts.trainPartitions();
    }

    /**
     * One split's records, each with an id: its source (the image's path, the shard and entry, the Parquet
     * file and row) or, for formats that hold many images per file, {@code SPLIT:INDEX}.
     */
    public JavaRDD<Tuple2<String, LabeledRecord>> identified(boolean test) {
        String name = test ? "test" : "train";
        return split(test, test ? badTest : badTrain)
                .map(t -> new Tuple2<>(t._2().source() != null ? t._2().source() : name + ":" + t._1(), t._2()));
    }

    /**
     * The same cached records, decoded with {@code newTransform}: evaluation and prediction use the one
     * stored with the model (its size, channels and normalization statistics). Shares the cache: release one.
     */
    public DistributedDataset withTransform(ImageTransform newTransform) {
        return new DistributedDataset(uri, format, classNames, recordFormat, newTransform, policy, read, trainSize, testSize,
                badTrain, badTest, skipped, skippedCount, facts, units);
    }

    @Override
    public boolean cachesItself() {
        return true;
    }

    @Override
    public BatchDecoder<LabeledRecord> decoder() {
        return new ImageBatchDecoder(recordFormat, transform, classNames.size(), policy);
    }

    @Override
    public ImageTransform transform() {
        return transform;
    }

    /**
     * Records left out while listing and reading (under {@code --bad-records skip}), with reasons: all that
     * the listing found, and of those found while reading the first {@link #SKIPPED_KEPT} by name, so that a
     * dataset of many bad files does not fill the driver. {@link #skippedCount()} counts them all.
     */
    public List<SkippedRecord> skipped() {
        return skipped;
    }

    /** How many records were left out while listing and reading. */
    public int skippedCount() {
        return skippedCount;
    }

    /** Records per class of one split, counted by the read job. */
    public int[] classCounts(boolean testSplit) {
        return (testSplit ? facts.testCounts() : facts.trainCounts()).clone();
    }

    /** Sizes, formats and channels of encoded images (image folders, Parquet, tar shards), or null for IDX and CIFAR. */
    public ImageSurvey survey() {
        return facts.survey();
    }

    public String format() {
        return format;
    }

    public String uri() {
        return uri;
    }

    public RecordFormat recordFormat() {
        return recordFormat;
    }

    public String describe() {
        return format + " dataset " + uri + ": " + trainSize + " training and " + testSize + " test records, " + classNames.size()
                + " classes, " + recordFormat + " -> " + transform.describe() + ", read on the executors in " + units + " units"
                + (skippedCount == 0 ? "" : ", " + skippedCount + " bad records skipped");
    }

    @Override
    public void describeTo(Map<String, Object> summary, List<String> skippedOnExecutors) {
        summary.put("dataset", describe());
        List<String> all = new ArrayList<>(skipped.stream().map(Object::toString).toList());
        all.addAll(skippedOnExecutors);
        summary.put("skipped_records_count", skippedCount + skippedOnExecutors.size());
        summary.put("skipped_records", all);
    }

    /** Releases the cached records. */
    public void release() {
        read.unpersist(false);
        badTrain.destroy();
        badTest.destroy();
    }

    // ---- normalization statistics (executors) ----

    /**
     * {@code --normalize auto} on the executors: the same fixed-seed sample of at most
     * {@link DatasetOptions#AUTO_NORMALIZE_MAX_IMAGES} training records the driver-side reader uses,
     * decoded where the records are cached; partial statistics are merged on the driver.
     */
    private static Normalizer normalizer(JavaRDD<ReadRecord> read, RecordFormat format, ImageTransform plain, int trainSize,
                                         Broadcast<int[]> badTrain, BadRecordPolicy policy) {
        int max = DatasetOptions.AUTO_NORMALIZE_MAX_IMAGES;
        int[] sample;
        if (trainSize > max) {
            AugmentRandom random = new AugmentRandom(0, 0, 0, 0);
            sample = new int[max];
            for (int i = 0; i < max; i++) {
                sample[i] = random.nextInt(trainSize);
            }
            Arrays.sort(sample);
        } else {
            sample = null;
        }
        ImageTransform unnormalized = plain.deterministic().withNormalizer(null);
        int channels = unnormalized.channels();
        int plane = unnormalized.height() * unnormalized.width();
        Broadcast<int[]> sampled = sample == null ? null
                : JavaSparkContext.fromSparkContext(read.context()).broadcast(sample);
        try {
            ChannelStatistics statistics = read.mapPartitions(records -> {
                ChannelStatistics partial = new ChannelStatistics(channels);
                try (RecordDecoder decoder = new RecordDecoder(format, unnormalized)) {
                    float[] image = new float[decoder.outputSize()];
                    while (records.hasNext()) {
                        ReadRecord r = records.next();
                        if (r.test || !r.good()) {
                            continue;
                        }
                        int times = sampled == null ? 1 : occurrences(sampled.value(), dense(r.id, badTrain.value()));
                        if (times == 0) {
                            continue;
                        }
                        try {
                            decoder.decode(r.record, null, image, 0);
                        } catch (BadRecordException e) {
                            if (policy == BadRecordPolicy.SKIP) {
                                continue;
                            }
                            throw new DatasetException("--normalize auto: " + e.getMessage(), e);
                        }
                        for (int t = 0; t < times; t++) {
                            partial.add(image, 0, plane);
                        }
                    }
                }
                return List.of(partial).iterator();
            }).reduce((a, b) -> {
                a.merge(b);
                return a;
            });
            return statistics.toNormalizer();
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new DatasetException("--normalize auto: " + e.getMessage(), e);
        } catch (Exception e) {
            throw datasetError("the training records", e);
        } finally {
            if (sampled != null) {
                sampled.destroy();
            }
        }
    }

    private static int occurrences(int[] sorted, int value) {
        int at = Arrays.binarySearch(sorted, value);
        if (at < 0) {
            return 0;
        }
        int from = at;
        int to = at;
        while (from > 0 && sorted[from - 1] == value) {
            from--;
        }
        while (to + 1 < sorted.length && sorted[to + 1] == value) {
            to++;
        }
        return to - from + 1;
    }

    // ---- what the read job reports ----

    /** Records found bad while reading that the driver keeps with their reasons (the first by name); all are counted. */
    static final int SKIPPED_KEPT = 1000;
    private static final java.util.Comparator<SkippedRecord> BY_NAME =
            java.util.Comparator.comparing(SkippedRecord::source, java.util.Comparator.nullsFirst(java.util.Comparator.<String>naturalOrder()))
                    .thenComparing(SkippedRecord::reason, java.util.Comparator.nullsFirst(java.util.Comparator.<String>naturalOrder()));

    /**
     * Per read unit, then merged: class counts of both splits, bad records by split and id (all ids, the
     * first {@link #SKIPPED_KEPT} by name with reasons), and (encoded images) the survey.
     */
    static final class ReadSummary implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;

        final int[] perClassTrain;
        final int[] perClassTest;
        final IntList badTrain = new IntList();
        final IntList badTest = new IntList();
        List<SkippedRecord> skipped = new ArrayList<>();
        int skippedCount;
        ImageSurvey survey;
        int partitionsWithTrain;
        int partitionsWithTest;

        private ReadSummary(int numClasses, boolean raw) {
            perClassTrain = new int[numClasses];
            perClassTest = new int[numClasses];
            survey = raw ? null : new ImageSurvey();
        }

        private void keepFirstSkipped() {
            skipped.sort(BY_NAME);
            if (skipped.size() > SKIPPED_KEPT) {
                skipped = new ArrayList<>(skipped.subList(0, SKIPPED_KEPT));
            }
        }

        static ReadSummary of(Iterator<ReadRecord> records, int numClasses, boolean raw) {
            ReadSummary summary = new ReadSummary(numClasses, raw);
            while (records.hasNext()) {
                ReadRecord r = records.next();
                if (!r.good()) {
                    (r.test ? summary.badTest : summary.badTrain).add(r.id);
                    summary.skipped.add(r.skipped);
                    summary.skippedCount++;
                    if (summary.skipped.size() >= 2 * SKIPPED_KEPT) {
                        summary.keepFirstSkipped();
                    }
                    continue;
                }
                (r.test ? summary.perClassTest : summary.perClassTrain)[r.record.label()]++;
                if (r.test) {
                    summary.partitionsWithTest = 1;
                } else {
                    summary.partitionsWithTrain = 1;
                }
                if (summary.survey != null && r.format != null) {
                    summary.survey.add(r.format, r.width, r.height, r.channels, r.alpha);
                }
            }
            summary.keepFirstSkipped();
            return summary;
        }

        ReadSummary merge(ReadSummary other) {
            for (int c = 0; c < perClassTrain.length; c++) {
                perClassTrain[c] += other.perClassTrain[c];
                perClassTest[c] += other.perClassTest[c];
            }
            badTrain.addAll(other.badTrain);
            badTest.addAll(other.badTest);
            skipped.addAll(other.skipped);
            skippedCount += other.skippedCount;
            partitionsWithTrain += other.partitionsWithTrain;
            partitionsWithTest += other.partitionsWithTest;
            keepFirstSkipped();
            if (survey != null && other.survey != null) {
                survey.merge(other.survey);
            }
            return this;
        }
    }

    /** A growable list of ints (bad record ids: usually none, a handful, at most the dataset's bad files). */
    static final class IntList implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;
        private int[] values = new int[4];
        private int size;

        void add(int value) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = value;
        }

        void addAll(IntList other) {
            for (int i = 0; i < other.size; i++) {
                add(other.values[i]);
            }
        }

        int size() {
            return size;
        }

        int[] sorted() {
            int[] copy = Arrays.copyOf(values, size);
            Arrays.sort(copy);
            return copy;
        }
    }
}
