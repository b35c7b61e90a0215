/**
 * What the driver checks about the cluster before it trains: enough task slots for the barrier stage,
 * no dynamic allocation, one GPU of its own per replica when GPUs are requested. Only public Spark
 * APIs are used, so the same code runs on Spark 3.5 (Scala 2.12) and Spark 4 (Scala 2.13).
 */
package io.lockstep.driver.cluster;
