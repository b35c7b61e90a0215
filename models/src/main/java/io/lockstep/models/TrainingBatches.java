package io.lockstep.models;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.MultiDataSet;

import java.util.Arrays;

/**
 * Feeds a one-label batch to a zoo graph that may have auxiliary training outputs (Inception-v3's
 * {@code AuxLogits}): DL4J trains a graph with several outputs only from a {@code MultiDataSet} with
 * one label array per output, and every auxiliary output of the zoo predicts the same classes as
 * {@link Architecture#OUTPUT}, so the labels are repeated. A graph with one output trains from the
 * {@code DataSet} as it is. Stateless; the graph belongs to the calling thread.
 */
public final class TrainingBatches {

    private TrainingBatches() {
    }

    /** One optimizer step on {@code batch}, like {@code graph.fit(batch)} for any zoo graph. */
    public static void fit(ComputationGraph graph, DataSet batch) {
        if (graph.getNumOutputArrays() == 1) {
            graph.fit(batch);
        } else {
            graph.fit(forAllOutputs(graph, batch));
        }
    }

    /** {@code batch} with its labels (and label mask) once per output of {@code graph}. */
    public static MultiDataSet forAllOutputs(ComputationGraph graph, DataSet batch) {
        int outputs = graph.getNumOutputArrays();
        INDArray[] labels = new INDArray[outputs];
        Arrays.fill(labels, batch.getLabels());
        INDArray[] labelMasks = null;
        if (batch.getLabelsMaskArray() != null) {
            labelMasks = new INDArray[outputs];
            Arrays.fill(labelMasks, batch.getLabelsMaskArray());
        }
        INDArray[] featureMasks = batch.getFeaturesMaskArray() == null ? null : new INDArray[]{batch.getFeaturesMaskArray()};
        return new MultiDataSet(new INDArray[]{batch.getFeatures()}, labels, featureMasks, labelMasks);
    }
}
