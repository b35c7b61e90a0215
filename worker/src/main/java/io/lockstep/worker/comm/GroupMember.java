package io.lockstep.worker.comm;

import java.util.Objects;

/**
 * Who a rank is: the job and stage run it belongs to, its rank and the group size. Every frame carries
 * the job (hashed) and stage attempt; stream and session ids derive from them and the secret.
 *
 * @param jobId        the training job's unique id
 * @param jobSecret    the job's secret shared by all ranks (never logged); Aeron session ids and the
 *                     frame keys derive from it, so only its holders can feed or read a rank's streams
 * @param stageAttempt identifies this run of the stage: it must differ between runs that could overlap
 *                     in time (retries, later epochs). In Spark use {@link #stageAttemptOf(int, int)}
 * @param rank         this rank, in [0, groupSize)
 * @param groupSize    number of ranks
 */
public record GroupMember(String jobId, JobSecret jobSecret, long stageAttempt, int rank, int groupSize) {
    public GroupMember {
        Objects.requireNonNull(jobId, "jobId");
        Objects.requireNonNull(jobSecret, "jobSecret");
        if (jobId.isBlank()) {
            throw new IllegalArgumentException("jobId must not be blank");
        }
        if (groupSize < 1 || groupSize > 32_767) {
            throw new IllegalArgumentException("groupSize must be in [1, 32767], was " + groupSize);
        }
        if (rank < 0 || rank >= groupSize) {
            throw new IllegalArgumentException("rank must be in [0, " + groupSize + "), was " + rank);
        }
    }

    /** Spark's stage id and attempt number as one stage-attempt value, unique within an application. */
    public static long stageAttemptOf(int stageId, int attemptNumber) {
        return ((long) stageId << 32) | (attemptNumber & 0xffffffffL);
    }

    @Override
    public String toString() {
        return "rank " + rank + "/" + groupSize + " of job " + jobId + " attempt " + stageAttempt;
    }
}
