/**
 * Harness for end-to-end tests on real processes: a Spark standalone cluster of separate JVMs
 * ({@link io.lockstep.it.harness.StandaloneSparkCluster}), {@code spark-submit} the way a user runs
 * it ({@link io.lockstep.it.harness.SparkSubmitter}), a Spark installation made of the Maven test
 * classpath ({@link io.lockstep.it.harness.SparkHome}, also for {@code local-cluster[...]} and
 * {@code SparkLauncher}), and an in-process HDFS ({@link io.lockstep.it.harness.MiniHdfs}).
 *
 * <p>Facts the harness is built on (measured with Spark 4.2.0, Hadoop 3.5.0, JDK 17):
 * <ul>
 *   <li>Ports are ephemeral everywhere and read back from the daemons' logs; waits poll a
 *       condition with a deadline ({@link io.lockstep.it.harness.Await}) and fail with log tails.</li>
 *   <li>{@code ProcessHandle.Info#commandLine()} is cut at 4096 bytes on Linux, before the main
 *       class of a JVM with a long classpath: executors are found through /proc instead.</li>
 *   <li>In standalone mode {@code spark.scheduler.minRegisteredResourcesRatio} is measured against
 *       {@code spark.cores.max} (0 when unset), so barrier jobs must set both.</li>
 *   <li>A barrier ResultStage that loses an executor aborts the job ("Could not recover from a
 *       failed barrier ResultStage"); a barrier ShuffleMapStage is rerun whole on a replacement
 *       executor that the Master starts on the same Worker.</li>
 *   <li>Every JVM the harness starts dies with the test JVM ({@link io.lockstep.it.harness.OrphanGuard}).</li>
 * </ul>
 */
package io.lockstep.it.harness;
