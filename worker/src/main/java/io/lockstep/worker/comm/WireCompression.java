package io.lockstep.worker.comm;

/**
 * How float all-reduce payloads travel between ranks. Accumulation always happens in fp32 on the
 * receiving rank; only the bytes on the wire are narrowed.
 *
 * <p>Every rank of a group must use the same setting: frames carry their encoding and a mismatch
 * fails the operation. Double-precision all-reduce, all-gather and broadcast are never compressed.
 */
public enum WireCompression {
    /** 4 bytes per value: exact. */
    NONE,
    /**
     * IEEE half precision, 2 bytes per value, round to nearest even: relative error 2^-11 per hop,
     * range ±65504 (larger magnitudes become infinity, which the training loop reports as a diverged
     * step). Suits gradients; not parameters.
     */
    FP16,
    /**
     * bfloat16 (the upper half of an fp32), 2 bytes per value, round to nearest even: relative error
     * 2^-8 per hop with the full fp32 range.
     */
    BF16
}
