package io.lockstep.driver.data;

import io.lockstep.api.TrainOptions;
import io.lockstep.driver.cluster.ExecutorDefaults;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

/**
 * Where the commands that read a dataset outside training ({@code evaluate}, {@code predict},
 * {@code inspect-data}) read it, and on which Spark master: {@code --read-on} (default as in
 * training), {@code --master}, and the Parquet column names. Add with {@code @Mixin ReadOptions read;}.
 */
public final class ReadOptions {

    @Option(names = "--master", description = "Spark master; default: the one spark-submit set, else local[*].")
    String master;

    @Option(names = "--read-on", defaultValue = TrainOptions.DEFAULT_READ_ON, paramLabel = "executors|driver",
            description = TrainOptions.READ_ON_DOC)
    String readOn;

    @Option(names = "--image-column", defaultValue = DistributedDataset.DEFAULT_IMAGE_COLUMN, paramLabel = "NAME",
            description = "Parquet datasets: the column of encoded images (PNG/JPEG bytes).")
    String imageColumn;

    @Option(names = "--label-column", defaultValue = DistributedDataset.DEFAULT_LABEL_COLUMN, paramLabel = "NAME",
            description = "Parquet datasets: the column of labels, class indices (integers) or class names (strings).")
    String labelColumn;

    /** The problems with these options, each naming its option (empty when there are none). */
    public List<String> errors() {
        List<String> errors = new ArrayList<>();
        if (!readOn.equals("driver") && !readOn.equals("executors")) {
            errors.add("--read-on: use executors or driver, got '" + readOn + "'");
        }
        return errors;
    }

    /** Whether the executors read {@code uri}: asked for, or a format only they read (Parquet, tar shards). */
    public boolean onExecutors(String uri, Configuration conf) {
        return readOn.equals("executors") || DistributedDataset.readOnExecutorsOnly(uri, conf);
    }

    public String imageColumn() {
        return imageColumn;
    }

    public String labelColumn() {
        return labelColumn;
    }

    /** A new context: the master spark-submit set, else {@code --master}, else all local cores. The caller stops it. */
    public JavaSparkContext sparkContext(String appName) {
        SparkConf conf = new SparkConf().setAppName(appName)
                .setIfMissing("spark.master", "local[*]")
                .setIfMissing("spark.ui.enabled", "false");
        ExecutorDefaults.applyTo(conf);
        if (master != null) {
            conf.setMaster(master);
        }
        JavaSparkContext sc = new JavaSparkContext(conf);
        sc.setLogLevel("WARN");
        return sc;
    }
}
