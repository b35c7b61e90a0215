package io.lockstep.driver.report;

import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

/**
 * {@code lockstep report OUT_DIR}: (re)writes a run's {@code report.html} and {@code charts/*.png}
 * from its metrics, also while the run is still going.
 */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = "Write OUT_DIR/report.html (one self-contained file) and OUT_DIR/charts/*.png from a run's metrics; works while the run is going.")
public final class ReportCommand implements Callable<Integer> {

    @Parameters(paramLabel = "OUT_DIR", description = "The --out directory of a `lockstep train` run (any Hadoop filesystem).")
    String out;

    @Override
    public Integer call() {
        System.out.println(RunReport.write(out, new org.apache.hadoop.conf.Configuration()));
        return 0;
    }
}
