package io.lockstep.models;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNBatchNormHelper;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNConvHelper;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNSubsamplingHelper;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.lang.reflect.Field;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Guards the two fixes that make DL4J M2.1 use OneDNN (7-9x faster convolutions): the bridge class
 * {@code org.nd4j.nativeblas.Nd4jCpu} and the JVM flag
 * {@code -Dorg.eclipse.deeplearning4j.helpers.disable=false} (passed by the Surefire argLine).
 */
class OneDnnTest {

    @AfterEach
    void releaseWorkspaces() {
        Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
    }

    @Test
    void zooConvolutionsRunThroughTheOneDnnHelperDuringTraining() throws ReflectiveOperationException {
        InputShape input = new InputShape(1, 28, 28);
        ComputationGraph graph = ModelRegistry.build("resnet20", ModelOptions.of(10, input));
        try {
            INDArray features = Nd4j.rand(DataType.FLOAT, 2, 1, 28, 28);
            INDArray labels = Nd4j.zeros(DataType.FLOAT, 2, 10);
            labels.putScalar(0, 1, 1.0);
            labels.putScalar(1, 4, 1.0);
            graph.outputSingle(false, features);
            graph.fit(new DataSet(features, labels));

            Field failures = ConvolutionLayer.class.getDeclaredField("helperCountFail");
            failures.setAccessible(true);
            int convolutions = 0;
            for (Layer layer : graph.getLayers()) {
                if (layer instanceof ConvolutionLayer conv) {
                    convolutions++;
                    String name = layer.getConfig().getLayerName();
                    assertInstanceOf(MKLDNNConvHelper.class, conv.getHelper(), name
                            + ": DL4J fell back to its built-in convolution; check the bridge class "
                            + "org.nd4j.nativeblas.Nd4jCpu and -D" + OneDnn.HELPERS_DISABLE_PROPERTY + "=false");
                    assertEquals(0, failures.getInt(conv), name + ": the OneDNN helper failed and DL4J fell back");
                } else if (layer instanceof BatchNormalization bn) {
                    assertInstanceOf(MKLDNNBatchNormHelper.class, bn.getHelper(), layer.getConfig().getLayerName());
                } else if (layer instanceof SubsamplingLayer pool) {
                    assertInstanceOf(MKLDNNSubsamplingHelper.class, pool.getHelper(), layer.getConfig().getLayerName());
                }
            }
            assertEquals(19, convolutions, "resnet20 has 1 + 3*3*2 convolutions");
        } finally {
            graph.close();
        }
    }

    @Test
    void probeReportsActiveHelpersUnderTheProjectJvmFlags() {
        OneDnn.Status status = OneDnn.probe();
        assertTrue(status.active(), status.detail());
        assertTrue(OneDnn.helpersActive());
        assertTrue(status.detail().contains("MKLDNNConvHelper"), status.detail());
    }

    @Test
    void probeNamesTheMissingFlagWhenHelpersAreDisabled() {
        String previous = System.getProperty(OneDnn.HELPERS_DISABLE_PROPERTY);
        System.setProperty(OneDnn.HELPERS_DISABLE_PROPERTY, "true");
        try {
            OneDnn.Status status = OneDnn.probe();
            assertFalse(status.active(), status.detail());
            assertTrue(status.detail().contains("-D" + OneDnn.HELPERS_DISABLE_PROPERTY + "=false"), status.detail());
        } finally {
            if (previous == null) {
                System.clearProperty(OneDnn.HELPERS_DISABLE_PROPERTY);
            } else {
                System.setProperty(OneDnn.HELPERS_DISABLE_PROPERTY, previous);
            }
        }
    }
}
