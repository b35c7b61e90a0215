package io.lockstep.driver.data;

import io.lockstep.worker.data.SkippedRecord;
import org.apache.hadoop.fs.BlockLocation;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Datasets stored as tar shards in the WebDataset layout ({@code shard-000000.tar}, ... each holding
 * {@code key.jpg} or {@code key.png} with {@code key.cls}, the class index as decimal text). Splits:
 * {@code ROOT/train/*.tar} and {@code ROOT/val/*.tar} (or {@code test/}) when both exist, otherwise the
 * shards of ROOT (or of {@code ROOT/train/}) split by a stable hash of each sample's key
 * ({@code --val-fraction}). Classes: the lines of {@code ROOT/classes.txt} when present, else
 * {@code --num-classes}, else 0 up to the largest index found.
 *
 * <p>The driver lists the shards (names, sizes, hosts); one executor task per shard counts its samples
 * reading only tar headers and class entries, so the driver learns counts, never image bytes, and
 * numbers the samples per split in shard order. The same pass cuts each shard at sample boundaries into
 * read units of about {@code unitBytes}: a shard of 80 MB of large images becomes three read tasks.
 */
final class TarShards {
    static final String CLASSES_FILE = "classes.txt";

    private TarShards() {
    }

    /** What listing found: the classes, the read units (one or more per shard), the split sizes and what was left out. */
    record Found(List<String> classes, List<ReadUnit> units, int train, int test, List<SkippedRecord> skipped) {
    }

    /** Whether the root (or its {@code train/} folder) holds tar files. */
    static boolean present(DatasetFiles files) {
        Path train = files.dirIn(files.root(), "train");
        return !shardsIn(files, files.root()).isEmpty() || train != null && !shardsIn(files, train).isEmpty();
    }

    private static List<FileStatus> shardsIn(DatasetFiles files, Path dir) {
        List<FileStatus> shards = new ArrayList<>();
        for (FileStatus s : files.list(dir)) {
            if (s.isFile() && s.getPath().getName().endsWith(".tar") && !ImageFolderDataset.hidden(s.getPath().getName())) {
                shards.add(s);
            }
        }
        return shards;
    }

    static Found list(JavaSparkContext sc, DatasetFiles files, DatasetOptions options, ReadUnit.Context context, long unitBytes) {
        Path root = files.root();
        Path trainDir = files.dirIn(root, "train");
        Path heldOutDir = files.dirIn(root, "val") != null ? files.dirIn(root, "val") : files.dirIn(root, "test");
        List<TarShardUnit.Shard> shards = new ArrayList<>();
        List<FileStatus> statuses = new ArrayList<>();
        if (trainDir != null && heldOutDir != null && !shardsIn(files, heldOutDir).isEmpty()) {
            shardsIn(files, trainDir).forEach(s -> {
                statuses.add(s);
                shards.add(shard(files, s, false));
            });
            shardsIn(files, heldOutDir).forEach(s -> {
                statuses.add(s);
                shards.add(shard(files, s, true));
            });
        } else {
            List<FileStatus> inRoot = shardsIn(files, root);
            (inRoot.isEmpty() ? shardsIn(files, trainDir) : inRoot).forEach(s -> {
                statuses.add(s);
                shards.add(shard(files, s, null));
            });
        }
        double valFraction = options.valFraction();
        sc.sc().setJobDescription("lockstep: count the samples of " + shards.size() + " tar shards in " + files.uri());
        List<TarShardUnit.Scan> scans;
        try {
            scans = sc.parallelize(shards, Math.max(1, shards.size()))
                    .map(shard -> TarShardUnit.scan(shard, valFraction, context, unitBytes)).collect();
        } catch (Exception e) {
            throw DistributedDataset.datasetError(files.uri(), e);
        } finally {
            sc.sc().setJobDescription(null);
        }
        List<ReadUnit> units = new ArrayList<>();
        List<SkippedRecord> skipped = new ArrayList<>();
        int train = 0;
        int test = 0;
        int maxClass = -1;
        for (int i = 0; i < shards.size(); i++) {
            TarShardUnit.Scan scan = scans.get(i);
            int pieceTrain = train;
            int pieceTest = test;
            for (TarShardUnit.Piece piece : scan.pieces()) {
                units.add(new TarShardUnit(shards.get(i), piece, hostsAt(statuses.get(i), piece.offset(), shards.get(i).hosts()),
                        valFraction, pieceTrain, pieceTest));
                pieceTrain += piece.train();
                pieceTest += piece.test();
            }
            if ((long) train + scan.train() > Integer.MAX_VALUE || (long) test + scan.test() > Integer.MAX_VALUE) {
                throw new DatasetException("--data: " + files.uri() + " has more than " + Integer.MAX_VALUE
                        + " samples in a split; train on a part of its shards");
            }
            train += scan.train();
            test += scan.test();
            maxClass = Math.max(maxClass, scan.maxClass());
            skipped.addAll(scan.skipped());
        }
        return new Found(classes(files, options, maxClass), units, train, test, skipped);
    }

    /** The class list: classes.txt, else --num-classes, else 0..the largest index seen. */
    private static List<String> classes(DatasetFiles files, DatasetOptions options, int maxClass) {
        Path named = files.file(CLASSES_FILE);
        if (named != null) {
            List<String> classes = new String(files.readAll(named), StandardCharsets.UTF_8).lines().map(String::trim)
                    .filter(line -> !line.isEmpty()).toList();
            if (classes.isEmpty()) {
                throw new DatasetException("--data: " + named + " lists no classes; write one class name per line (line 1 is"
                        + " class 0) or remove the file");
            }
            return classes;
        }
        int count = options.numClasses() != null ? options.numClasses() : maxClass + 1;
        if (count <= 0) {
            throw new DatasetException("--data: the tar shards of " + files.uri() + " hold no class entry with a class index"
                    + " (key.cls holding e.g. 3); each sample needs one");
        }
        List<String> classes = new ArrayList<>(count);
        for (int c = 0; c < count; c++) {
            classes.add(Integer.toString(c));
        }
        return List.copyOf(classes);
    }

    private static TarShardUnit.Shard shard(DatasetFiles files, FileStatus status, Boolean test) {
        return new TarShardUnit.Shard(status.getPath().toString(), files.relative(status.getPath()), test, status.getLen(),
                hostsAt(status, 0, new String[0]));
    }

    /** The hosts of the block holding byte {@code offset} of the file, or {@code otherwise} when the listing did not say. */
    private static String[] hostsAt(FileStatus status, long offset, String[] otherwise) {
        if (status instanceof LocatedFileStatus located && located.getBlockLocations() != null) {
            for (BlockLocation block : located.getBlockLocations()) {
                if (offset >= block.getOffset() && offset < block.getOffset() + Math.max(1, block.getLength())) {
                    try {
                        return block.getHosts();
                    } catch (java.io.IOException e) {
                        return otherwise;
                    }
                }
            }
        }
        return otherwise;
    }
}
