package io.lockstep.models;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.layers.LayerHelper;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNConvHelper;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Whether DL4J really runs its layers through OneDNN on this JVM; meant to be logged once at startup
 * by the launcher and by each executor.
 *
 * <p>In DL4J 1.0.0-M2.1 the OneDNN layer helpers are silently off unless (1) the JVM runs with
 * {@code -D}{@value #HELPERS_DISABLE_PROPERTY}{@code =false} and (2) DL4J's reflective lookup of
 * {@code org.nd4j.nativeblas.Nd4jCpu$Environment} succeeds (a bridge class in this module), on
 * (3) the CPU backend with (4) OneDNN compiled into libnd4j (an {@code -onednn} classifier of
 * {@code nd4j-native}). Without them convolution training is 7-9x slower with identical results,
 * which is why {@link #probe()} checks the outcome itself: it builds a one-layer convolution
 * network, runs a forward pass and looks at the layer's helper.
 *
 * <p>Stateless; each call probes again (a few milliseconds, allocates a few bytes off-heap).
 * Thread-safe.
 */
public final class OneDnn {
    /** DL4J's system property; helpers are disabled unless it is {@code false}. */
    public static final String HELPERS_DISABLE_PROPERTY = "org.eclipse.deeplearning4j.helpers.disable";
    static final String BRIDGE_CLASS = "org.nd4j.nativeblas.Nd4jCpu$Environment";

    private OneDnn() {
    }

    /**
     * Outcome of a probe.
     *
     * @param active whether a convolution layer runs with DL4J's OneDNN helper
     * @param detail one line for the log: the helper in use, or the cause and the fix
     */
    public record Status(boolean active, String detail) {
    }

    /** True if a freshly built convolution layer runs through DL4J's OneDNN helper. */
    public static boolean helpersActive() {
        return probe().active();
    }

    /** Builds a one-layer convolution network, runs it once and reports which implementation ran. */
    public static Status probe() {
        LayerHelper helper = convolutionHelperAfterForwardPass();
        if (helper instanceof MKLDNNConvHelper) {
            return new Status(true, "DL4J OneDNN layer helpers active (" + helper.getClass().getSimpleName() + ")");
        }
        return new Status(false, "DL4J OneDNN layer helpers NOT active (convolution helper: "
                + (helper == null ? "none" : helper.getClass().getName()) + "), so convolutions run 7-9x slower: "
                + cause());
    }

    private static LayerHelper convolutionHelperAfterForwardPass() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(1)
                .dataType(DataType.FLOAT)
                .list()
                .layer(new ConvolutionLayer.Builder(3, 3).nOut(2).activation(Activation.RELU).build())
                .setInputType(InputType.convolutional(4, 4, 1))
                .build();
        MultiLayerNetwork network = new MultiLayerNetwork(conf);
        network.init();
        try {
            network.output(Nd4j.ones(DataType.FLOAT, 1, 1, 4, 4));
            return network.getLayer(0).getHelper();
        } finally {
            network.close();
        }
    }

    private static String cause() {
        if (Boolean.parseBoolean(System.getProperty(HELPERS_DISABLE_PROPERTY, "true"))) {
            return "start the JVM with -D" + HELPERS_DISABLE_PROPERTY + "=false (bin/lockstep, the executor "
                    + "options and the Surefire argLine pass it)";
        }
        String backend = Nd4j.getExecutioner().getEnvironmentInformation().getProperty("backend");
        if (!"CPU".equalsIgnoreCase(backend)) {
            return "ND4J backend is " + backend + "; OneDNN helpers exist only on the CPU backend";
        }
        if (!Nd4j.getEnvironment().helpersAllowed()) {
            return "ND4J helpers were switched off in code (Nd4j.getEnvironment().allowHelpers(false))";
        }
        Class<?> bridge;
        try {
            bridge = Class.forName(BRIDGE_CLASS);
        } catch (ClassNotFoundException e) {
            return "class " + BRIDGE_CLASS + " is missing: put the lockstep-models jar on the classpath";
        }
        try {
            Object environment = bridge.getMethod("getInstance").invoke(null);
            if (!(Boolean) bridge.getMethod("isUseMKLDNN").invoke(environment)) {
                return "libnd4j runs without OneDNN: use an -onednn classifier of nd4j-native "
                        + "(Maven property nd4j.classifier, e.g. linux-x86_64-onednn-avx2)";
            }
        } catch (ReflectiveOperationException e) {
            return "class " + BRIDGE_CLASS + " does not answer isUseMKLDNN(): " + e;
        }
        return "every known precondition holds; read DL4J's HelperUtils debug log for the reason";
    }
}
