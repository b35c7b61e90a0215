package io.lockstep.driver.data;

import org.apache.hadoop.conf.Configuration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/**
 * {@code lockstep make-subset}: writes a class-balanced subset of an IDX dataset (see
 * {@link BalancedSubset}). The shipped {@code data/fashion-mnist-small} was made with the defaults.
 */
@Command(name = "make-subset", mixinStandardHelpOptions = true, showDefaultValues = true,
        description = "Write a class-balanced subset of an IDX dataset (gzipped IDX files plus the chosen indices).")
public final class MakeSubsetCommand implements Callable<Integer> {

    @Option(names = "--from", defaultValue = "/usr/share/datasets/fashion-mnist", paramLabel = "URI",
            description = "IDX dataset to sample (Debian package dataset-fashion-mnist installs Fashion-MNIST here).")
    String from;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to write (any Hadoop filesystem).")
    String out;

    @Option(names = "--train-per-class", defaultValue = "1000", description = "Training images per class.")
    int trainPerClass;

    @Option(names = "--test-per-class", defaultValue = "200", description = "Test images per class.")
    int testPerClass;

    @Option(names = "--num-classes", defaultValue = "10", description = "Classes of the dataset.")
    int numClasses;

    @Option(names = "--seed", defaultValue = "20170825", description = "Seed of the per-class shuffles.")
    long seed;

    @Override
    public Integer call() {
        if (trainPerClass < 1 || testPerClass < 1) {
            throw new DatasetException("--train-per-class and --test-per-class must be positive, got " + trainPerClass + " and " + testPerClass);
        }
        if (numClasses < 2 || numClasses > 256) {
            throw new DatasetException("--num-classes: must be between 2 and 256, got " + numClasses);
        }
        BalancedSubset.write(from, out, trainPerClass, testPerClass, numClasses, seed, new Configuration());
        System.out.printf("wrote %d training and %d test images (%d classes) to %s%n", trainPerClass * numClasses,
                testPerClass * numClasses, numClasses, out);
        return 0;
    }
}
