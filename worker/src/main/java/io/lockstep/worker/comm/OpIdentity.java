package io.lockstep.worker.comm;

/**
 * The identity every outgoing frame is stamped with: who sends, for which job and stage attempt, and
 * which operation at which training position. Mutable; written only by the rank's owning thread.
 */
final class OpIdentity {
    final int rank;
    final long jobHash;
    final long stageAttempt;
    long opSeq;
    int epoch;
    long step;

    OpIdentity(int rank, long jobHash, long stageAttempt) {
        this.rank = rank;
        this.jobHash = jobHash;
        this.stageAttempt = stageAttempt;
    }

    FrameHeader stamp(FrameHeader header, byte frameType, byte opType, byte encoding) {
        return header.writeIdentity(frameType, opType, encoding, rank, epoch, jobHash, stageAttempt, opSeq, step);
    }
}
