package io.lockstep.worker.exchange;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * The wire format of one replica's threshold-encoded update (Strom 2015, as in DL4J's threshold
 * encoding): each entry of {@code v = gradient + residual} with {@code |v| >= τ} is sent as
 * {@code sign(v)·τ}; the rest stays in the residual.
 *
 * <p>Entries in the model's {@link DenseRanges} (BatchNorm running statistics) bypass the threshold:
 * their whole {@code v} is sent as floats and they leave no residual.
 *
 * <p>Message, little-endian:
 * <pre>
 *   int   format     {@link #SPARSE} or {@link #BITMAP}
 *   int   length     number of entries of the gradient (n)
 *   int   count      number of entries sent as ±τ (k)
 *   float threshold  τ
 *   int   dense      number of dense entries (d), then d floats: v of the dense ranges in order
 *   sparse: k ints, the entry's index with the sign bit set for −τ, in increasing index order
 *   bitmap: ⌈n/4⌉ bytes, 2 bits per entry (entry i at bits 2·(i mod 4) of byte i/4): 00 not sent,
 *           01 +τ, 10 −τ
 * </pre>
 * The sparse form costs 4 bytes per sent entry, the bitmap n/4 bytes whatever is sent; the encoder
 * picks the smaller, the sparse form on a tie. The bitmap wins once more than 1/16 of the entries are
 * sent.
 *
 * <p>Stateless and allocation-free: callers own every buffer. Methods are static and thread-safe on
 * distinct buffers.
 */
final class ThresholdCodec {
    static final int SPARSE = 0x4C535401;
    static final int BITMAP = 0x4C535402;
    static final int HEADER_BYTES = 20;

    private static final VarHandle INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle FLOAT = MethodHandles.byteArrayViewVarHandle(float[].class, ByteOrder.LITTLE_ENDIAN);
    private static final int SIGN = 0x8000_0000;
    private static final int CODE_PLUS = 1;
    private static final int CODE_MINUS = 2;

    private ThresholdCodec() {
    }

    static int bitmapBodyBytes(int length) {
        return (int) ((length + 3L) / 4);
    }

    /** True when {@code count} sparse entries would take more bytes than the bitmap of {@code length} entries. */
    static boolean usesBitmap(int length, int count) {
        return 4L * count > bitmapBodyBytes(length);
    }

    /** Exact size of the message that sends {@code count} of {@code length} entries plus {@code dense} floats. */
    static int messageBytes(int length, int count, int dense) {
        long body = usesBitmap(length, count) ? bitmapBodyBytes(length) : 4L * count;
        return Math.toIntExact(HEADER_BYTES + 4L * dense + body);
    }

    /**
     * Adds {@code gradient} into {@code residual} (making it {@code v}) and counts the entries with
     * {@code |v| >= threshold}. Entries in {@code denseRanges} are first moved out, in order, into
     * {@code dense} (which receives their {@code v}) and zeroed in both arrays, so they are never counted
     * or encoded as ±τ and keep no residual.
     *
     * @throws IllegalStateException if any entry of {@code v} is NaN or infinite
     */
    static int mergeAndCount(float[] residual, float[] gradient, int length, float threshold,
                             DenseRanges denseRanges, float[] dense) {
        boolean finite = true;
        int k = 0;
        for (int r = 0; r < denseRanges.rangeCount(); r++) {
            for (int i = denseRanges.start(r), end = i + denseRanges.length(r); i < end; i++) {
                float v = residual[i] + gradient[i];
                finite &= Math.abs(v) <= Float.MAX_VALUE;
                dense[k++] = v;
                residual[i] = 0f;
                gradient[i] = 0f;
            }
        }
        int count = 0;
        for (int i = 0; i < length; i++) {
            float v = residual[i] + gradient[i];
            residual[i] = v;
            float magnitude = Math.abs(v);
            finite &= magnitude <= Float.MAX_VALUE;
            if (magnitude >= threshold) {
                count++;
            }
        }
        if (!finite) {
            int index = firstNonFinite(residual, length);
            throw new IllegalStateException("the gradient plus residual holds NaN or infinite entries ("
                    + (index >= 0 ? "first at index " + index : "in the BatchNorm running statistics")
                    + "); the model diverged: lower the learning rate");
        }
        return count;
    }

    /** Number of entries with {@code |v| >= threshold}. */
    static int count(float[] v, int length, float threshold) {
        int count = 0;
        for (int i = 0; i < length; i++) {
            if (Math.abs(v[i]) >= threshold) {
                count++;
            }
        }
        return count;
    }

    /**
     * Writes the message sending every entry of {@code residual} with {@code |v| >= threshold} into
     * {@code out} and subtracts what is sent from {@code residual}, which then holds exactly what was not sent.
     *
     * @param count      the number of such entries, as returned by {@link #count} for the same threshold
     * @param dense      values sent exactly, {@code denseCount} of them (see {@link #mergeAndCount})
     * @param out        exactly {@link #messageBytes(int, int, int) messageBytes(length, count, denseCount)} long
     */
    static void encode(float[] residual, int length, float threshold, int count, float[] dense, int denseCount,
                       byte[] out) {
        if (out.length != messageBytes(length, count, denseCount)) {
            throw new IllegalArgumentException("message buffer has " + out.length + " bytes, the message needs "
                    + messageBytes(length, count, denseCount));
        }
        boolean bitmap = usesBitmap(length, count);
        INT.set(out, 0, bitmap ? BITMAP : SPARSE);
        INT.set(out, 4, length);
        INT.set(out, 8, count);
        FLOAT.set(out, 12, threshold);
        INT.set(out, 16, denseCount);
        int position = HEADER_BYTES;
        for (int k = 0; k < denseCount; k++, position += 4) {
            FLOAT.set(out, position, dense[k]);
        }
        int written = bitmap ? encodeBitmap(residual, length, threshold, out, position)
                : encodeSparse(residual, length, threshold, count, out, position);
        if (written != count) {
            throw new IllegalArgumentException("count " + count + " does not match the " + written
                    + " entries at threshold " + threshold + "; count and encode must use the same threshold and residual");
        }
    }

    private static int encodeSparse(float[] residual, int length, float threshold, int count, byte[] out, int body) {
        int position = body;
        int end = body + 4 * count;
        int written = 0;
        for (int i = 0; i < length; i++) {
            float v = residual[i];
            if (Math.abs(v) >= threshold) {
                if (position == end) {
                    return written + 1;
                }
                if (v > 0) {
                    INT.set(out, position, i);
                    residual[i] = v - threshold;
                } else {
                    INT.set(out, position, i | SIGN);
                    residual[i] = v + threshold;
                }
                position += 4;
                written++;
            }
        }
        return written;
    }

    private static int encodeBitmap(float[] residual, int length, float threshold, byte[] out, int body) {
        int written = 0;
        int byteCount = bitmapBodyBytes(length);
        for (int b = 0; b < byteCount; b++) {
            int bits = 0;
            int first = b << 2;
            int last = Math.min(first + 4, length);
            for (int i = first; i < last; i++) {
                float v = residual[i];
                if (Math.abs(v) >= threshold) {
                    int shift = (i - first) << 1;
                    if (v > 0) {
                        bits |= CODE_PLUS << shift;
                        residual[i] = v - threshold;
                    } else {
                        bits |= CODE_MINUS << shift;
                        residual[i] = v + threshold;
                    }
                    written++;
                }
            }
            out[body + b] = (byte) bits;
        }
        return written;
    }

    static int format(byte[] message) {
        return (int) INT.get(message, 0);
    }

    static int length(byte[] message) {
        return (int) INT.get(message, 4);
    }

    static int count(byte[] message) {
        return (int) INT.get(message, 8);
    }

    static float threshold(byte[] message) {
        return (float) FLOAT.get(message, 12);
    }

    static int denseCount(byte[] message) {
        return (int) INT.get(message, 16);
    }

    /**
     * Adds the decoded update of {@code message} (±τ at the sent entries, the exact values in the dense
     * ranges) into {@code target}.
     *
     * @param sender names the sending rank in error messages
     * @return the number of entries the message sends as ±τ
     * @throws IllegalStateException if the message is malformed or encodes another model layout
     */
    static int decodeAdd(byte[] message, int sender, int length, DenseRanges denseRanges, float[] target) {
        if (message.length < HEADER_BYTES) {
            throw malformed(sender, "has " + message.length + " bytes, shorter than the " + HEADER_BYTES + "-byte header");
        }
        int format = format(message);
        int messageLength = length(message);
        int count = count(message);
        float threshold = threshold(message);
        int denseCount = denseCount(message);
        if (messageLength != length || denseCount != denseRanges.total()) {
            throw malformed(sender, "encodes " + messageLength + " entries (" + denseCount + " dense) but this model has "
                    + length + " (" + denseRanges.total() + " dense); every replica must train the same model "
                    + "configuration and attach it the same way");
        }
        if (count < 0 || count > length || !(threshold > 0) || Float.isInfinite(threshold)) {
            throw malformed(sender, "has count " + count + " and threshold " + threshold);
        }
        if (message.length != messageBytes(length, count, denseCount)) {
            throw malformed(sender, "has " + message.length + " bytes, expected " + messageBytes(length, count, denseCount)
                    + " for " + count + " of " + length + " entries and " + denseCount + " dense");
        }
        int position = HEADER_BYTES;
        for (int r = 0; r < denseRanges.rangeCount(); r++) {
            for (int i = denseRanges.start(r), end = i + denseRanges.length(r); i < end; i++, position += 4) {
                target[i] += (float) FLOAT.get(message, position);
            }
        }
        if (format == SPARSE && !usesBitmap(length, count)) {
            decodeSparse(message, position, sender, length, count, threshold, target);
        } else if (format == BITMAP && usesBitmap(length, count)) {
            int decoded = decodeBitmap(message, position, sender, length, threshold, target);
            if (decoded != count) {
                throw malformed(sender, "declares " + count + " entries but its bitmap holds " + decoded);
            }
        } else {
            throw malformed(sender, "has format 0x" + Integer.toHexString(format) + " for " + count + " of "
                    + length + " entries");
        }
        return count;
    }

    private static void decodeSparse(byte[] message, int body, int sender, int length, int count, float threshold,
                                     float[] target) {
        int previous = -1;
        for (int k = 0, position = body; k < count; k++, position += 4) {
            int entry = (int) INT.get(message, position);
            int index = entry & ~SIGN;
            if (index <= previous || index >= length) {
                throw malformed(sender, "has entry index " + index + " after " + previous + " (model of " + length + ")");
            }
            previous = index;
            target[index] += entry < 0 ? -threshold : threshold;
        }
    }

    private static int decodeBitmap(byte[] message, int body, int sender, int length, float threshold, float[] target) {
        int decoded = 0;
        int byteCount = bitmapBodyBytes(length);
        for (int b = 0; b < byteCount; b++) {
            int bits = message[body + b] & 0xFF;
            if (bits == 0) {
                continue;
            }
            int first = b << 2;
            for (int slot = 0; slot < 4; slot++) {
                int code = (bits >>> (slot << 1)) & 3;
                if (code == 0) {
                    continue;
                }
                int index = first + slot;
                if (code == 3 || index >= length) {
                    throw malformed(sender, "has bitmap code " + code + " at entry " + index);
                }
                target[index] += code == CODE_PLUS ? threshold : -threshold;
                decoded++;
            }
        }
        return decoded;
    }

    private static int firstNonFinite(float[] values, int length) {
        for (int i = 0; i < length; i++) {
            if (!Float.isFinite(values[i])) {
                return i;
            }
        }
        return -1;
    }

    private static IllegalStateException malformed(int sender, String detail) {
        return new IllegalStateException("threshold message from rank " + sender + " " + detail
                + "; the message is corrupt or the replicas run different versions");
    }
}
