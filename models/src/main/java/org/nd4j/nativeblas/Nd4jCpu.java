package org.nd4j.nativeblas;

/**
 * Compatibility bridge for a packaging bug in DL4J 1.0.0-M2.1.
 *
 * <p>DL4J's {@code BaseMKLDNNHelper.mklDnnEnabled()} looks up, by reflection, the class
 * {@code org.nd4j.nativeblas.Nd4jCpu$Environment} and its method {@code isUseMKLDNN()}. ND4J M2.1
 * moved that class to {@code org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu$Environment} and renamed
 * the method {@code isUseONEDNN()}, so the lookup fails and every convolution, pooling and BatchNorm
 * layer silently falls back to the 7-9x slower built-in implementation. This class restores the old
 * name and delegates to the new one. It exists only to be found by that reflective lookup.
 *
 * <p>Only meaningful on the CPU backend; DL4J checks the backend before it gets here.
 */
public final class Nd4jCpu {
    /** Referenced by name so this class also compiles and loads under the CUDA backend. */
    private static final String M21_ENVIRONMENT = "org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu$Environment";

    private Nd4jCpu() {
    }

    /** The old name of ND4J's native environment, delegating to the M2.1 class. */
    public static final class Environment {
        private static final Environment INSTANCE = new Environment();

        private Environment() {
        }

        public static Environment getInstance() {
            return INSTANCE;
        }

        /** Whether libnd4j runs OneDNN kernels (the old name of {@code isUseONEDNN}). */
        public boolean isUseMKLDNN() {
            try {
                Class<?> environment = Class.forName(M21_ENVIRONMENT);
                Object instance = environment.getMethod("getInstance").invoke(null);
                return (Boolean) environment.getMethod("isUseONEDNN").invoke(instance);
            } catch (ReflectiveOperationException | LinkageError e) {
                // Not the CPU backend, or a different ND4J: DL4J then uses its built-in layers.
                return false;
            }
        }
    }
}
