package io.lockstep.it.harness.apps;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The outcome {@link BarrierProbeApp} writes: whether the job succeeded, its error, and one line
 * per task (partition, stage attempt, executor id and pid, the messages its allGather returned).
 */
public record ProbeResult(boolean succeeded, Optional<String> error, long elapsedMs, List<Task> tasks) {
    static final String OUTCOME = "outcome=";
    static final String ERROR = "error=";
    static final String ELAPSED_MS = "elapsedMs=";
    static final String TASK = "task ";

    /** One barrier task as it reported itself. */
    public record Task(int partition, int attempt, String executorId, long pid, List<String> gathered) {
    }

    /** Parses a result file; fails naming the file and line on anything unexpected. */
    public static ProbeResult read(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            throw new UncheckedIOException("No result from BarrierProbeApp at " + file, e);
        }
        Boolean succeeded = null;
        String error = null;
        long elapsedMs = -1;
        List<Task> tasks = new ArrayList<>();
        for (String line : lines) {
            if (line.startsWith(OUTCOME)) {
                succeeded = line.substring(OUTCOME.length()).equals("SUCCEEDED");
            } else if (line.startsWith(ERROR)) {
                error = line.substring(ERROR.length());
            } else if (line.startsWith(ELAPSED_MS)) {
                elapsedMs = Long.parseLong(line.substring(ELAPSED_MS.length()));
            } else if (line.startsWith(TASK)) {
                Map<String, String> fields = new HashMap<>();
                for (String field : line.substring(TASK.length()).split(" ")) {
                    String[] kv = field.split("=", 2);
                    fields.put(kv[0], kv.length > 1 ? kv[1] : "");
                }
                tasks.add(new Task(Integer.parseInt(fields.get("partition")), Integer.parseInt(fields.get("attempt")),
                        fields.get("executor"), Long.parseLong(fields.get("pid")),
                        Arrays.asList(fields.get("gathered").split(","))));
            } else if (!line.isBlank()) {
                throw new IllegalStateException("Unexpected line in " + file + ": " + line);
            }
        }
        if (succeeded == null) {
            throw new IllegalStateException("No outcome line in " + file + ": " + lines);
        }
        tasks.sort((a, b) -> Integer.compare(a.partition(), b.partition()));
        return new ProbeResult(succeeded, Optional.ofNullable(error), elapsedMs, List.copyOf(tasks));
    }
}
