package io.lockstep.driver.data;

import org.apache.hadoop.conf.Configuration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/**
 * {@code lockstep export-images}: writes an IDX or CIFAR dataset as an image folder of PNGs
 * ({@link ImageFolderExport}), e.g. the shipped Fashion-MNIST subset, to check that training from an
 * image folder reaches the same accuracy as from IDX.
 */
@Command(name = "export-images", mixinStandardHelpOptions = true, showDefaultValues = true,
        description = "Write an IDX or CIFAR dataset as an image folder of PNGs (OUT/train/<class>/*.png, OUT/test/<class>/*.png).")
public final class ExportImagesCommand implements Callable<Integer> {

    @Option(names = "--data", required = true, paramLabel = "URI", description = "IDX or CIFAR dataset directory (any Hadoop filesystem).")
    String data;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to write (any Hadoop filesystem).")
    String out;

    @Option(names = "--num-classes", paramLabel = "N", description = "IDX datasets: number of classes (default: 10).")
    Integer numClasses;

    @Override
    public Integer call() {
        Configuration conf = new Configuration();
        LoadedDataset dataset = DatasetSource.open(data, conf, DatasetOptions.defaults().withNumClasses(numClasses));
        int written = ImageFolderExport.write(dataset, out, conf);
        System.out.printf("wrote %d PNG images (%d train, %d test, %d classes) to %s%n", written, dataset.train().size(),
                dataset.test().size(), dataset.numClasses(), out);
        return 0;
    }
}
