package io.lockstep.worker.comm;

/** How an all-reduce combines the contributions of the ranks. */
public enum ReduceOp {
    /** Element-wise sum over ranks. */
    SUM,
    /** Element-wise sum over ranks divided by the number of ranks. */
    AVERAGE
}
