package io.lockstep.worker.nn;

import java.util.Locale;

/**
 * Which code runs the 2-D convolutions of a network on the CPU backend: {@link #DNNL} (OneDNN called
 * directly, {@link DnnlConvolution}) or {@link #DL4J} (DL4J's layer and its OneDNN helper). Convolutions
 * the direct path does not cover (other data types, {@code Same} mode, other backends) always run on
 * DL4J's path whatever this says.
 */
public enum ConvolutionKernels {
    DNNL,
    DL4J;

    public static ConvolutionKernels parse(String text) {
        return switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "dnnl" -> DNNL;
            case "dl4j" -> DL4J;
            default -> throw new IllegalArgumentException("unknown convolution kernels '" + text + "'; use dnnl or dl4j");
        };
    }

    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
