package io.lockstep.driver.train;

import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.StageInfo;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Counts stage attempts after the first (Spark reruns a barrier stage as a whole when one of its
 * tasks or executors fails), for the summary. Called on Spark's listener-bus thread.
 */
final class StageRetries extends SparkListener {
    private final List<String> details = Collections.synchronizedList(new ArrayList<>());

    @Override
    public void onStageSubmitted(SparkListenerStageSubmitted submitted) {
        StageInfo info = submitted.stageInfo();
        if (info.attemptNumber() > 0) {
            details.add("stage " + info.stageId() + " attempt " + info.attemptNumber() + " (" + info.name() + ")");
        }
    }

    int count() {
        return details.size();
    }

    List<String> details() {
        synchronized (details) {
            return List.copyOf(details);
        }
    }
}
