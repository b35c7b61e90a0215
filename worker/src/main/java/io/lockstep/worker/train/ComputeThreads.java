package io.lockstep.worker.train;

import org.nd4j.linalg.api.blas.Blas;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.NativeOps;
import org.nd4j.nativeblas.NativeOpsHolder;

/**
 * The number of threads ND4J's native ops and OneDNN use for the work issued by the calling thread.
 *
 * <p>Why this is per thread: libnd4j's loops and OneDNN (built on OpenMP) take their team size from
 * the OpenMP count of the thread that issues the op, an OpenMP per-thread setting that a new thread
 * starts with at the process default (all cores, or {@code OMP_NUM_THREADS}). ND4J 1.0.0-M2.1's
 * {@code Environment.setMaxThreads} does nothing, so the count has to be set with OpenMP's own call
 * on <em>every</em> thread that runs a replica's ops: the task thread (training, evaluation) and the
 * batch prefetch thread ({@link Prefetcher} copies its creator's count). libnd4j's own thread pool
 * ({@code samediff::Threads}) sizes itself from the process-wide "master threads" setting, which is
 * lowered too; it is capped by the count the process started with, so a larger value than that is
 * not reachable at run time (start the JVM with {@code OMP_NUM_THREADS} for that). Dense layers'
 * matrix products go to OpenBLAS, whose pool is process-wide and not OpenMP: its size is set here too.
 * The process-wide settings are why replicas sharing a JVM must use one count (the driver computes one).
 *
 * <p>On the CUDA backend these settings only size host-side loops; the device does the work.
 * Stateless; every method acts on the calling thread (and the process-wide master-thread cap).
 */
public final class ComputeThreads {

    private ComputeThreads() {
    }

    /**
     * Makes ops issued by the calling thread use {@code threads} threads, and returns the count now in
     * force on this thread ({@link #inForce()}), which is lower than asked only when the process started
     * with fewer.
     */
    public static int bind(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("thread count must be at least 1, got " + threads);
        }
        // The environment first: it loads the backend, which NativeOpsHolder needs to find its class.
        int cap = Nd4j.getEnvironment().maxThreads();
        int n = Math.min(threads, Math.max(1, cap));
        NativeOpsHolder.getInstance().getDeviceNativeOps().setOmpNumThreads(n);
        if (Nd4j.getEnvironment().maxMasterThreads() != n) {
            Nd4j.getEnvironment().setMaxMasterThreads(n);
        }
        Blas blas = Nd4j.factory().blas();
        if (blas != null && blas.getMaxThreads() != n) {
            blas.setMaxThreads(n);
        }
        return inForce();
    }

    /**
     * The thread count in force for ops issued by the calling thread: the smaller of its OpenMP count
     * (OneDNN, libnd4j's OpenMP loops) and libnd4j's master-thread count (its own thread pool).
     */
    public static int inForce() {
        int master = Nd4j.getEnvironment().maxMasterThreads();
        int omp = NativeOpsHolder.getInstance().getDeviceNativeOps().ompGetMaxThreads();
        return Math.min(omp, master);
    }

    /** The settings behind {@link #inForce()}, for logs: OpenMP of this thread and its wait policy, libnd4j, OpenBLAS. */
    public static String describe() {
        int master = Nd4j.getEnvironment().maxMasterThreads();
        NativeOps ops = NativeOpsHolder.getInstance().getDeviceNativeOps();
        Blas blas = Nd4j.factory().blas();
        String waitPolicy = System.getenv("OMP_WAIT_POLICY");
        return "OpenMP " + ops.ompGetMaxThreads() + " (this thread, idle threads "
                + (waitPolicy == null || waitPolicy.isBlank() ? "spin: OMP_WAIT_POLICY unset" : "OMP_WAIT_POLICY=" + waitPolicy)
                + "), libnd4j " + master + " of at most "
                + Nd4j.getEnvironment().maxThreads() + ", BLAS " + (blas == null ? "n/a" : blas.getMaxThreads());
    }

    /** The highest count {@link #bind} can reach in this process (fixed when ND4J's natives load). */
    public static int processLimit() {
        return Nd4j.getEnvironment().maxThreads();
    }
}
