package io.lockstep.worker.device;

import org.nd4j.linalg.factory.Nd4j;

/**
 * Which ND4J backend this JVM runs, and whether the CUDA one was built in.
 *
 * <p>When the CUDA backend cannot load (no CUDA 11.6 runtime, no driver, unsupported GPU) ND4J falls
 * back to the CPU backend with only a stack trace in the log. A GPU job must never train on the CPU
 * unannounced, so replicas check this before training.
 */
public final class Backend {
    /** ND4J's CUDA backend class (nd4j-cuda-11.6, built with {@code mvn -Pcuda}). */
    static final String CUDA_BACKEND = "org.nd4j.linalg.jcublas.JCublasBackend";

    private Backend() {
    }

    /** Whether the CUDA backend is on the classpath (a {@code -Pcuda} build). */
    public static boolean cudaBuilt() {
        try {
            Class.forName(CUDA_BACKEND, false, Backend.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    /** Whether ND4J runs on the CUDA backend in this JVM. */
    public static boolean cudaLoaded() {
        return CUDA_BACKEND.equals(loadedName());
    }

    /** Class name of the backend ND4J loaded. */
    public static String loadedName() {
        return Nd4j.getBackend().getClass().getName();
    }
}
