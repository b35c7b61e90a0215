package io.lockstep.api;

/**
 * One epoch of a training job, as the driver saw it.
 *
 * @param epoch           0-based epoch
 * @param epochs          epochs in the job
 * @param meanLoss        mean training loss over the epoch's steps and replicas ({@code NaN} if a retried
 *                        stage only evaluated)
 * @param testAccuracy    accuracy on the test data after the epoch ({@code NaN} without test data)
 * @param imagesPerSecond training examples per second over all replicas
 * @param computeShare    share of step time spent computing (the shares sum to 1)
 * @param normSyncShare   share spent synchronizing BatchNorm
 * @param exchangeShare   share spent exchanging gradients or parameters
 * @param dataWaitShare   share spent waiting for the next batch
 * @param checkpoint      the checkpoint written at the end of the epoch
 */
public record EpochResult(int epoch, int epochs, double meanLoss, double testAccuracy, double imagesPerSecond,
                          double computeShare, double normSyncShare, double exchangeShare, double dataWaitShare,
                          String checkpoint) {
}
