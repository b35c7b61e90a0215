package io.lockstep.driver.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The report of one run, from its output directory alone: {@code report.html}, one self-contained file
 * (charts inlined as PNG, no script or style from the network), and the same charts as PNG files in
 * {@code charts/}. Works while the run is going (from what {@code metrics.jsonl} holds so far) and after
 * it ends (with {@code summary.json}). Charts are drawn by JFreeChart, headless.
 */
public final class RunReport {
    public static final String HTML = "report.html";
    public static final String CHARTS = "charts";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int WIDTH = 900;
    private static final int HEIGHT = 380;
    private static final Color[] PHASE_COLORS = {new Color(0x4C78A8), new Color(0xF58518), new Color(0x54A24B), new Color(0xE45756)};

    /** One chart: file name (without .png), title, PNG bytes. */
    record Chart(String name, String title, byte[] png) {
    }

    private final List<JsonNode> records;
    private final JsonNode summary;

    RunReport(List<JsonNode> records, JsonNode summary) {
        this.records = records;
        this.summary = summary;
    }

    /**
     * Reads {@code out}'s metrics (and summary, if the run has ended), writes the report and charts
     * beside them, and returns the report's path.
     */
    public static String write(String out, Configuration hadoopConf) {
        System.setProperty("java.awt.headless", "true");
        FileSystem fs = RunOutput.fileSystem(out, hadoopConf);
        Path dir = fs.makeQualified(new Path(out));
        Path metrics = new Path(dir, RunOutput.METRICS);
        try {
            if (!fs.exists(metrics)) {
                throw new IllegalArgumentException("OUT_DIR " + out + " has no " + RunOutput.METRICS
                        + "; give the --out directory of a `lockstep train` run");
            }
            List<JsonNode> records = new ArrayList<>();
            int line = 0;
            for (String text : readText(fs, metrics).split("\n")) {
                line++;
                if (text.isBlank()) {
                    continue;
                }
                try {
                    records.add(JSON.readTree(text));
                } catch (IOException e) {
                    // The last line may be half-written while the run goes on; any other is damage.
                    if (line < readText(fs, metrics).split("\n").length) {
                        throw new IllegalArgumentException(metrics + " line " + line + " is not JSON: " + e.getMessage(), e);
                    }
                }
            }
            Path summaryPath = new Path(dir, RunOutput.SUMMARY);
            JsonNode summary = fs.exists(summaryPath) ? JSON.readTree(readText(fs, summaryPath)) : null;
            RunReport report = new RunReport(records, summary);
            List<Chart> charts = report.charts();
            for (Chart chart : charts) {
                writeFile(fs, new Path(new Path(dir, CHARTS), chart.name() + ".png"), chart.png());
            }
            Path html = new Path(dir, HTML);
            writeFile(fs, html, report.html(charts).getBytes(StandardCharsets.UTF_8));
            return html.toString();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the report in " + out + ": " + e.getMessage(), e);
        }
    }

    private static String readText(FileSystem fs, Path path) throws IOException {
        try (InputStream in = fs.open(path)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static void writeFile(FileSystem fs, Path target, byte[] bytes) throws IOException {
        Path temp = new Path(target.getParent(), "." + target.getName() + ".tmp");
        try (FSDataOutputStream stream = fs.create(temp, true)) {
            stream.write(bytes);
        }
        if (fs.exists(target)) {
            fs.delete(target, false);
        }
        if (!fs.rename(temp, target)) {
            throw new IOException("rename to " + target + " failed");
        }
    }

    private List<JsonNode> ofType(String type) {
        return records.stream().filter(r -> type.equals(r.path("type").asText())).toList();
    }

    private JsonNode runRecord() {
        List<JsonNode> runs = ofType("run");
        return runs.isEmpty() ? JSON.createObjectNode() : runs.get(runs.size() - 1);
    }

    List<Chart> charts() {
        List<Chart> charts = new ArrayList<>();
        List<JsonNode> steps = ofType("step");
        List<JsonNode> epochs = ofType("epoch");
        int stepsPerEpoch = epochs.isEmpty() ? steps.stream().mapToInt(s -> s.get("step").asInt()).max().orElse(1)
                : epochs.get(0).path("steps").asInt(1) + epochs.get(0).path("first_step").asInt(1) - 1;

        XYSeries stepLoss = new XYSeries("loss per step");
        XYSeries stepRate = new XYSeries("images/s per step");
        XYSeries bytes = new XYSeries("bytes sent per replica");
        XYSeries compression = new XYSeries("compression ratio");
        long start = runRecord().path("time").asLong(0);
        for (JsonNode s : steps) {
            double x = globalStep(s, stepsPerEpoch);
            stepLoss.addOrUpdate(x, s.get("loss").asDouble());
            if (start > 0 && s.has("time")) {
                stepRate.add((s.get("time").asLong() - start) / 1e3, s.get("images_per_second").asDouble());
            }
            bytes.addOrUpdate(x, s.path("bytes_sent_per_replica").asDouble());
            if (s.has("compression_ratio")) {
                compression.addOrUpdate(x, s.get("compression_ratio").asDouble());
            }
        }
        XYSeries epochLoss = new XYSeries("mean loss per epoch");
        XYSeries accuracy = new XYSeries("test accuracy");
        XYSeries epochRate = new XYSeries("images/s per epoch");
        for (JsonNode e : epochs) {
            int epoch = e.get("epoch").asInt();
            if (e.get("loss").isNumber()) {
                epochLoss.addOrUpdate((double) epoch * stepsPerEpoch, e.get("loss").asDouble());
            }
            accuracy.addOrUpdate(epoch, e.get("test_accuracy").asDouble());
            if (start > 0 && e.has("time")) {
                epochRate.add((e.get("time").asLong() - start) / 1e3, e.get("images_per_second").asDouble());
            }
        }
        charts.add(xy("loss", "Training loss", "step", "loss", false, stepLoss, epochLoss));
        charts.add(xy("accuracy", "Test accuracy per epoch", "epoch", "accuracy", true, accuracy));
        charts.add(xy("throughput", "Images per second over time", "seconds since start", "images/s", false, stepRate, epochRate));
        charts.add(stepSplit(steps));
        charts.add(xy("exchange-bytes", "Gradient exchange: bytes sent per replica per step", "step", "bytes", false, bytes));
        if (!compression.isEmpty()) {
            charts.add(xy("compression", "Exchange compression ratio (dense bytes / sent bytes)", "step", "ratio", false, compression));
        }
        long[][] confusion = lastConfusion();
        if (confusion != null) {
            charts.add(precisionRecall(confusion));
        }
        return charts;
    }

    private static double globalStep(JsonNode step, int stepsPerEpoch) {
        return (step.get("epoch").asInt() - 1) * (double) stepsPerEpoch + step.get("step").asInt();
    }

    private static Chart xy(String name, String title, String xLabel, String yLabel, boolean shapes, XYSeries... series) {
        XYSeriesCollection data = new XYSeriesCollection();
        for (XYSeries s : series) {
            if (!s.isEmpty()) {
                data.addSeries(s);
            }
        }
        JFreeChart chart = ChartFactory.createXYLineChart(title, xLabel, yLabel, data, PlotOrientation.VERTICAL, true, false, false);
        XYPlot plot = chart.getXYPlot();
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, shapes);
        for (int i = 0; i < data.getSeriesCount(); i++) {
            renderer.setSeriesPaint(i, PHASE_COLORS[i % PHASE_COLORS.length]);
            renderer.setSeriesStroke(i, new BasicStroke(i == 0 ? 1.2f : 2.5f));
            // Sparse series (one point per epoch) get markers so a single epoch still shows.
            renderer.setSeriesShapesVisible(i, shapes || data.getSeries(i).getItemCount() < 30);
        }
        plot.setRenderer(renderer);
        if ("epoch".equals(xLabel)) {
            plot.getDomainAxis().setStandardTickUnits(org.jfree.chart.axis.NumberAxis.createIntegerTickUnits());
        }
        style(chart);
        return new Chart(name, title, png(chart));
    }

    private Chart stepSplit(List<JsonNode> steps) {
        Map<String, double[]> byRank = new LinkedHashMap<>();
        Map<String, Integer> counts = new LinkedHashMap<>();
        for (JsonNode s : steps) {
            for (JsonNode r : s.path("ranks")) {
                String key = "rank " + r.get("rank").asInt() + " (" + r.path("host").asText("?") + ")";
                double[] sum = byRank.computeIfAbsent(key, k -> new double[4]);
                sum[0] += r.get("data_wait_ms").asDouble();
                sum[1] += r.get("compute_ms").asDouble();
                sum[2] += r.get("norm_sync_ms").asDouble();
                sum[3] += r.get("exchange_ms").asDouble();
                counts.merge(key, 1, Integer::sum);
            }
        }
        String[] phases = {"data wait", "forward/backward", "BatchNorm sync", "exchange"};
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        for (Map.Entry<String, double[]> e : byRank.entrySet()) {
            for (int p = 0; p < 4; p++) {
                data.addValue(e.getValue()[p] / counts.get(e.getKey()), phases[p], e.getKey());
            }
        }
        JFreeChart chart = ChartFactory.createStackedBarChart("Mean step time per rank, by phase", "rank", "ms per step", data,
                PlotOrientation.HORIZONTAL, true, false, false);
        for (int p = 0; p < 4; p++) {
            chart.getCategoryPlot().getRenderer().setSeriesPaint(p, PHASE_COLORS[p]);
        }
        style(chart);
        return new Chart("step-split", "Mean step time per rank, by phase", png(chart));
    }

    private Chart precisionRecall(long[][] confusion) {
        List<String> names = classNames(confusion.length);
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        for (int c = 0; c < confusion.length; c++) {
            data.addValue(precision(confusion, c), "precision", names.get(c));
            data.addValue(recall(confusion, c), "recall", names.get(c));
        }
        JFreeChart chart = ChartFactory.createBarChart("Per-class precision and recall (last evaluated epoch)", "class", "",
                data, PlotOrientation.VERTICAL, true, false, false);
        chart.getCategoryPlot().getRenderer().setSeriesPaint(0, PHASE_COLORS[0]);
        chart.getCategoryPlot().getRenderer().setSeriesPaint(1, PHASE_COLORS[1]);
        style(chart);
        return new Chart("precision-recall", "Per-class precision and recall", png(chart));
    }

    private static void style(JFreeChart chart) {
        chart.setBackgroundPaint(Color.WHITE);
        chart.getPlot().setBackgroundPaint(new Color(0xF7F7F7));
    }

    private static byte[] png(JFreeChart chart) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            ChartUtils.writeChartAsPNG(bytes, chart, WIDTH, HEIGHT);
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot draw the chart '" + chart.getTitle().getText() + "': " + e.getMessage(), e);
        }
    }

    private long[][] lastConfusion() {
        List<JsonNode> epochs = ofType("epoch");
        for (int i = epochs.size() - 1; i >= 0; i--) {
            JsonNode rows = epochs.get(i).get("confusion");
            if (rows != null && rows.isArray() && !rows.isEmpty()) {
                long[][] m = new long[rows.size()][];
                for (int r = 0; r < rows.size(); r++) {
                    m[r] = new long[rows.get(r).size()];
                    for (int c = 0; c < m[r].length; c++) {
                        m[r][c] = rows.get(r).get(c).asLong();
                    }
                }
                return m;
            }
        }
        return null;
    }

    private List<String> classNames(int n) {
        List<String> names = new ArrayList<>();
        runRecord().path("class_names").forEach(c -> names.add(c.asText()));
        while (names.size() < n) {
            names.add("class " + names.size());
        }
        return names;
    }

    private static double precision(long[][] m, int c) {
        long predicted = 0;
        for (long[] row : m) {
            predicted += row[c];
        }
        return predicted == 0 ? 0 : (double) m[c][c] / predicted;
    }

    private static double recall(long[][] m, int c) {
        long actual = 0;
        for (long v : m[c]) {
            actual += v;
        }
        return actual == 0 ? 0 : (double) m[c][c] / actual;
    }

    String html(List<Chart> charts) {
        JsonNode run = runRecord();
        StringBuilder h = new StringBuilder();
        String model = run.path("job").path("model").asText("?");
        h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>Lockstep run: ")
                .append(esc(model)).append("</title>\n<style>")
                .append("body{font-family:sans-serif;margin:2em;color:#222;max-width:1000px}")
                .append("table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}")
                .append("th{background:#eee}td.l,th.l{text-align:left}img.chart{display:block;max-width:100%;margin:0.5em 0 1.5em}")
                .append(".state{padding:0.5em 1em;background:#fff3cd;display:inline-block}")
                .append("</style></head>\n<body>\n");
        h.append("<h1>Lockstep run: ").append(esc(model)).append(", ").append(esc(run.path("job").path("replicas").asText("?")))
                .append(" replicas × ").append(esc(run.path("job").path("batch-size").asText("?"))).append("</h1>\n");
        List<JsonNode> epochs = ofType("epoch");
        if (summary == null) {
            h.append("<p class=\"state\">Run in progress: ").append(epochs.size()).append(" of ")
                    .append(esc(run.path("job").path("epochs").asText("?"))).append(" epochs done, report made ")
                    .append(Instant.now()).append(". Run <code>lockstep report OUT_DIR</code> again to refresh.</p>\n");
        } else {
            h.append("<table><tr><th class=\"l\">test accuracy</th><th class=\"l\">wall time</th><th class=\"l\">images/s</th>")
                    .append("<th class=\"l\">images trained</th></tr><tr>")
                    .append(td(String.format("%.4f", summary.path("test_accuracy").asDouble())))
                    .append(td(String.format("%.1f s", summary.path("wall_seconds").asDouble())))
                    .append(td(String.format("%.0f", summary.path("images_per_second").asDouble())))
                    .append(td(summary.path("images_trained").asText())).append("</tr></table>\n");
        }

        h.append("<h2>Epochs</h2>\n<table><tr><th>epoch</th><th>loss</th><th>test accuracy</th><th>seconds</th><th>images/s</th>")
                .append("<th>compute</th><th>BatchNorm sync</th><th>exchange</th><th>data wait</th><th>stalls</th><th class=\"l\">checkpoint</th></tr>\n");
        for (JsonNode e : epochs) {
            h.append("<tr>").append(td(e.get("epoch").asText())).append(td(num(e.get("loss"), "%.4f")))
                    .append(td(num(e.get("test_accuracy"), "%.4f"))).append(td(num(e.get("seconds"), "%.1f")))
                    .append(td(num(e.get("images_per_second"), "%.0f"))).append(td(pct(e.get("compute_share"))))
                    .append(td(pct(e.get("norm_sync_share")))).append(td(pct(e.get("exchange_share"))))
                    .append(td(pct(e.get("data_wait_share")))).append(td(e.path("stalls").asText("0")))
                    .append("<td class=\"l\">").append(esc(e.path("checkpoint").asText(""))).append("</td></tr>\n");
        }
        h.append("</table>\n");

        for (Chart chart : charts) {
            h.append("<h2>").append(esc(chart.title())).append("</h2>\n<img class=\"chart\" alt=\"").append(esc(chart.title()))
                    .append("\" data-chart=\"").append(chart.name()).append("\" width=\"").append(WIDTH).append("\" height=\"")
                    .append(HEIGHT).append("\" src=\"data:image/png;base64,").append(Base64.getEncoder().encodeToString(chart.png()))
                    .append("\">\n");
        }

        long[][] confusion = lastConfusion();
        if (confusion != null) {
            List<String> names = classNames(confusion.length);
            long max = 1;
            for (long[] row : confusion) {
                for (long v : row) {
                    max = Math.max(max, v);
                }
            }
            h.append("<h2>Confusion matrix (last evaluated epoch; rows: true class, columns: predicted)</h2>\n<table id=\"confusion\"><tr><th></th>");
            for (String name : names) {
                h.append("<th>").append(esc(name)).append("</th>");
            }
            h.append("<th>recall</th></tr>\n");
            for (int r = 0; r < confusion.length; r++) {
                h.append("<tr><th class=\"l\">").append(esc(names.get(r))).append("</th>");
                for (int c = 0; c < confusion.length; c++) {
                    int shade = (int) Math.round(255 - 155.0 * confusion[r][c] / max);
                    h.append("<td style=\"background:rgb(").append(shade).append(',').append(shade).append(",255)\">")
                            .append(confusion[r][c]).append("</td>");
                }
                h.append(td(String.format("%.3f", recall(confusion, r)))).append("</tr>\n");
            }
            h.append("<tr><th class=\"l\">precision</th>");
            for (int c = 0; c < confusion.length; c++) {
                h.append(td(String.format("%.3f", precision(confusion, c))));
            }
            h.append("<td></td></tr></table>\n");
        }

        List<JsonNode> stalls = ofType("stall");
        h.append("<h2>Stalls</h2>\n");
        if (stalls.isEmpty()) {
            h.append("<p>No step took more than the stall factor times the running median.</p>\n");
        } else {
            h.append("<table><tr><th>epoch</th><th>step</th><th>step ms</th><th>median ms</th><th>rank</th><th class=\"l\">host</th>")
                    .append("<th class=\"l\">phase</th><th>excess ms</th><th>others waited ms</th></tr>\n");
            for (JsonNode s : stalls) {
                h.append("<tr>").append(td(s.get("epoch").asText())).append(td(s.get("step").asText()))
                        .append(td(num(s.get("step_ms"), "%.0f"))).append(td(num(s.get("median_ms"), "%.0f")))
                        .append(td(s.get("rank").asText())).append("<td class=\"l\">").append(esc(s.get("host").asText()))
                        .append("</td><td class=\"l\">").append(esc(s.get("phase").asText()
                                + (s.path("slow_alike").asBoolean() ? " (every rank; excess over its median)" : "")))
                        .append("</td>")
                        .append(td(num(s.get("phase_excess_ms"), "%.0f"))).append(td(num(s.get("others_waited_ms"), "%.0f")))
                        .append("</tr>\n");
            }
            h.append("</table>\n");
        }

        h.append("<h2>Checkpoints and retries</h2>\n<table>");
        row(h, "checkpoint directory", run.path("job").path("checkpoint-dir").asText(""));
        if (summary != null) {
            row(h, "resumed from", summary.path("resumed_from").isNull() ? "— (a fresh run)" : summary.path("resumed_from").asText());
            row(h, "stage retries", summary.path("stage_retries").asText("0"));
            summary.path("stage_retry_details").forEach(d -> row(h, "retry", d.asText()));
            row(h, "skipped records", summary.path("skipped_records_count").asText("0"));
            row(h, "model", summary.path("output").asText("") + "/" + RunOutput.MODEL);
        }
        h.append("</table>\n");

        h.append("<h2>Job options</h2>\n<table>");
        fields(h, run.path("job"));
        h.append("</table>\n<h2>Environment</h2>\n<table>");
        fields(h, run.path("environment"));
        h.append("</table>\n");
        // Lets a headless browser (and the tests) see that every chart image decoded and was laid out.
        h.append("<script>window.addEventListener('load',function(){var c=document.querySelectorAll('img.chart'),n=0;")
                .append("for(var i=0;i<c.length;i++){if(c[i].complete&&c[i].naturalWidth>0){n++;}}")
                .append("document.body.setAttribute('data-charts-drawn',n+'/'+c.length);});</script>\n");
        h.append("</body></html>\n");
        return h.toString();
    }

    private static void fields(StringBuilder h, JsonNode object) {
        Iterator<Map.Entry<String, JsonNode>> it = object.fields();
        while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            row(h, e.getKey(), e.getValue().isValueNode() ? e.getValue().asText() : e.getValue().toString());
        }
    }

    private static void row(StringBuilder h, String key, String value) {
        h.append("<tr><th class=\"l\">").append(esc(key)).append("</th><td class=\"l\">").append(esc(value)).append("</td></tr>\n");
    }

    private static String td(String text) {
        return "<td>" + esc(text) + "</td>";
    }

    private static String num(JsonNode value, String format) {
        return value == null || !value.isNumber() ? "—" : String.format(format, value.asDouble());
    }

    private static String pct(JsonNode value) {
        return value == null || !value.isNumber() ? "—" : String.format("%.1f %%", 100 * value.asDouble());
    }

    private static String esc(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
