package org.nd4j.nativeblas;

/**
 * The benchmark peer's own copy of Lockstep's OneDNN bridge (a packaging bug of DL4J 1.0.0-M2.1).
 *
 * <p>DL4J's {@code BaseMKLDNNHelper} looks up {@code org.nd4j.nativeblas.Nd4jCpu$Environment#isUseMKLDNN()}
 * by reflection; ND4J M2.1 moved it to {@code org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu$Environment}
 * and renamed the method {@code isUseONEDNN()}. Without this class every convolution, pooling and
 * BatchNorm layer of the peer silently falls back to DL4J's 7-9x slower built-in code, and the comparison
 * with Lockstep (which ships the same bridge) would measure the bug, not the training system.
 */
public final class Nd4jCpu {
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
                return false; // not the CPU backend: DL4J then uses its built-in layers
            }
        }
    }
}
