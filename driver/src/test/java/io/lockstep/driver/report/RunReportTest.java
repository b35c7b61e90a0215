package io.lockstep.driver.report;

import io.lockstep.driver.Main;
import io.lockstep.driver.train.SharedRuns;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The report of a small real run, opened in headless Chromium (Debian's {@code chromium}, installed by
 * .ci/run) with networking off: every chart image decodes and is laid out, the confusion matrix names
 * the classes, and the page logs nothing to the console.
 */
class RunReportTest {
    @TempDir
    Path dir;

    @Test
    void theReportOfARunDrawsItsChartsInAHeadlessBrowser() throws Exception {
        // A copy of the two-replica run the test classes share (2 epochs, exchange bytes, a confusion matrix):
        // this test replaces its report.
        Path out = copy(SharedRuns.twoReplicas(), dir.resolve("run"));
        Path html = out.resolve(RunReport.HTML);
        assertTrue(Files.exists(html), "the run wrote its report");
        Files.delete(html);
        assertEquals(0, Main.run("report", out.toString()), "lockstep report OUT_DIR");

        String page = Files.readString(html);
        assertFalse(Pattern.compile("(src|href)\\s*=\\s*\"(https?:)?//").matcher(page).find(), "nothing is loaded from the network");
        int charts = count(page, "<img class=\"chart\"");
        assertTrue(charts >= 6, "loss, accuracy, throughput, step split, exchange bytes, precision/recall: " + charts);
        for (String name : List.of("loss", "accuracy", "throughput", "step-split", "exchange-bytes", "precision-recall")) {
            assertTrue(Files.size(out.resolve(RunReport.CHARTS).resolve(name + ".png")) > 1000, name + ".png beside the report");
        }
        String confusion = page.substring(page.indexOf("<table id=\"confusion\">"));
        StringBuilder header = new StringBuilder("<tr><th></th>");
        new com.fasterxml.jackson.databind.ObjectMapper().readTree(Files.readAllLines(out.resolve(RunOutput.METRICS)).get(0))
                .get("class_names").forEach(c -> header.append("<th>").append(c.asText()).append("</th>"));
        assertTrue(confusion.startsWith("<table id=\"confusion\">" + header + "<th>recall</th></tr>"),
                "confusion matrix headed by the class names: " + confusion.substring(0, Math.min(300, confusion.length())));

        Browser browser = Browser.dumpDom(html, dir.resolve("chromium-profile"));
        Matcher drawn = Pattern.compile("data-charts-drawn=\"(\\d+)/(\\d+)\"").matcher(browser.dom());
        assertTrue(drawn.find(), "the page's load script ran; DOM:\n" + browser.dom().substring(0, Math.min(500, browser.dom().length())));
        assertEquals(String.valueOf(charts), drawn.group(2));
        assertEquals(drawn.group(2), drawn.group(1), "every chart image decoded");
        assertTrue(browser.consoleErrors().isEmpty(), "console errors: " + browser.consoleErrors());
    }

    private static Path copy(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path file : files.toList()) {
                Files.copy(file, to.resolve(from.relativize(file).toString()));
            }
        }
        return to;
    }

    private static int count(String text, String needle) {
        int n = 0;
        for (int i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }

    /** Headless Chromium, isolated: fresh profile, no network services, console to stderr. */
    record Browser(String dom, List<String> consoleErrors) {
        static Browser dumpDom(Path html, Path profile) throws IOException, InterruptedException {
            File stderr = profile.resolveSibling("chromium-stderr.txt").toFile();
            File stdout = profile.resolveSibling("chromium-dom.html").toFile();
            Process p = new ProcessBuilder("chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync",
                    "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
                    "--dump-dom", html.toUri().toString())
                    .redirectOutput(stdout).redirectError(stderr).start();
            if (!p.waitFor(2, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new AssertionError("chromium did not finish within 2 minutes");
            }
            String log = Files.readString(stderr.toPath());
            List<String> errors = log.lines().filter(l -> l.contains("CONSOLE") || l.contains("Uncaught")).toList();
            return new Browser(Files.readString(stdout.toPath(), StandardCharsets.UTF_8), errors);
        }
    }
}
