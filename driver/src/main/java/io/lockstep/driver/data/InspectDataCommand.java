package io.lockstep.driver.data;

import io.lockstep.worker.data.BadRecordPolicy;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code lockstep inspect-data}: what the model will see. Reads the dataset where {@code --read-on} says
 * (as training does), with every image fully decoded and bad records listed rather than fatal, prints
 * {@link DataInspector#report}, and writes a PNG contact sheet ({@link DataInspector#contactSheet}). Read
 * on the executors, only counts, the image survey, the first unreadable files and the images shown reach
 * the driver; both paths print the same report and draw the same sheet. Exits 0 even when files are
 * unreadable: the report is the result.
 */
@Command(name = "inspect-data", mixinStandardHelpOptions = true, showDefaultValues = true, sortOptions = false,
        description = "Report records per class and split, image sizes and channels, unreadable files, and write a contact sheet PNG.")
public final class InspectDataCommand implements Callable<Integer> {

    @Option(names = "--data", required = true, paramLabel = "URI", description = "Dataset directory (any Hadoop filesystem).")
    String data;

    @Option(names = "--sheet", defaultValue = "contact-sheet.png", paramLabel = "FILE",
            description = "Where to write the contact sheet (any Hadoop filesystem).")
    String sheet;

    @Option(names = "--per-class", defaultValue = "8", description = "Images per class on the contact sheet.")
    int perClass;

    @Option(names = "--seed", defaultValue = "42", description = "Seed for choosing and augmenting the images shown.")
    long seed;

    @Option(names = "--fallback-size", defaultValue = "64", paramLabel = "PIXELS",
            description = "Image folders of mixed sizes without --image-size are shown at this size.")
    int fallbackSize;

    @Mixin
    TrainingDataOptions dataOptions;

    @Mixin
    ReadOptions read;

    @Override
    public Integer call() {
        if (perClass < 1) {
            throw new DatasetException("--per-class: must be at least 1, got " + perClass);
        }
        if (fallbackSize < 1 || fallbackSize > 4096) {
            throw new DatasetException("--fallback-size: must be between 1 and 4096, got " + fallbackSize);
        }
        List<String> errors = read.errors();
        if (!errors.isEmpty()) {
            throw new DatasetException(String.join("\n", errors));
        }
        DatasetOptions options = dataOptions.toOptions().withBadRecords(BadRecordPolicy.SKIP).withVerifyImages("full");
        Configuration conf = new Configuration();
        DataInspector.Inspection inspection;
        if (read.onExecutors(data, conf)) {
            try (JavaSparkContext sc = read.sparkContext("lockstep inspect-data")) {
                DistributedDataset dataset = DistributedDataset.open(sc, data, options, read.imageColumn(), read.labelColumn(),
                        fallbackSize);
                try {
                    inspection = DataInspector.inspect(dataset, perClass, seed);
                } finally {
                    dataset.release();
                }
            }
        } else {
            inspection = DataInspector.inspect(DatasetSource.open(data, conf, options, fallbackSize), perClass, seed);
        }
        System.out.print(DataInspector.report(inspection));
        BufferedImage image = DataInspector.contactSheet(inspection, perClass, seed);
        write(image, sheet, conf);
        System.out.printf("%ncontact sheet (%dx%d) written to %s%n", image.getWidth(), image.getHeight(), sheet);
        return 0;
    }

    static void write(BufferedImage image, String uri, Configuration conf) {
        try {
            Path path = new Path(uri);
            FileSystem fs = path.getFileSystem(conf);
            fs.setWriteChecksum(false);
            try (FSDataOutputStream out = fs.create(path, true); PngEncoder png = new PngEncoder()) {
                png.write(image, out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("--sheet: cannot write " + uri + ": " + e.getMessage(), e);
        }
    }
}
