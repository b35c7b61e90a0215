package io.lockstep.api;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.util.List;

/**
 * What a training job produced: the trained network (on the driver, with plain BatchNorm layers), the
 * per-epoch history and where its files went.
 *
 * @param graph            the trained network as a {@code ComputationGraph}
 * @param network          the trained network in the form it was given: a {@code MultiLayerNetwork} when
 *                         one was given, else the same object as {@code graph}
 * @param history          one entry per epoch trained by this call
 * @param outputDir        directory of {@code metrics.jsonl}, {@code summary.json} and {@code model.zip}
 * @param modelFile        the trained model file inside {@code outputDir}
 * @param checkpointDir    directory of the checkpoints (continue from them with {@code resume})
 * @param wallSeconds      duration of the job
 * @param imagesPerSecond  training examples per second over the job
 */
public record TrainResult(ComputationGraph graph, Object network, List<EpochResult> history, String outputDir,
                          String modelFile, String checkpointDir, double wallSeconds, double imagesPerSecond) {

    /** The trained {@code MultiLayerNetwork}, when one was given to train. */
    public MultiLayerNetwork multiLayerNetwork() {
        if (network instanceof MultiLayerNetwork mln) {
            return mln;
        }
        throw new IllegalStateException("the job trained a ComputationGraph; use graph()");
    }

    /** Test accuracy after the last epoch ({@code NaN} without test data). */
    public double testAccuracy() {
        return history.isEmpty() ? Double.NaN : history.get(history.size() - 1).testAccuracy();
    }
}
