package io.lockstep.models.torch;

import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A reader of the safetensors format (the format of Hugging Face's {@code safetensors} package, and
 * the usual way to save a PyTorch {@code state_dict} without pickle): an 8-byte little-endian header
 * length N, N bytes of JSON {@code {name: {"dtype", "shape", "data_offsets": [begin, end]}}} (plus an
 * optional {@code "__metadata__"} map of strings), then the tensors' raw little-endian bytes, offsets
 * relative to the end of the header.
 *
 * <p>{@link #open} reads and validates the whole header against the file size, so a truncated file,
 * a file of another format, or a header whose offsets disagree with its shapes fails there, with the
 * file and tensor named, before any tensor is used. Tensor data is read on demand. Floating-point
 * tensors (F32, F64, F16, BF16) are read as float32.
 *
 * <p>Not thread-safe; holds no open file between calls.
 */
public final class SafeTensors {
    /** Headers above this size are not a state_dict (a ViT-H has a few hundred entries, ~100 kB). */
    private static final long MAX_HEADER_BYTES = 100L << 20;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, Integer> DTYPE_BYTES = Map.ofEntries(
            Map.entry("F64", 8), Map.entry("F32", 4), Map.entry("F16", 2), Map.entry("BF16", 2),
            Map.entry("I64", 8), Map.entry("I32", 4), Map.entry("I16", 2), Map.entry("I8", 1),
            Map.entry("U8", 1), Map.entry("BOOL", 1));

    /** One tensor's header entry. {@code begin}/{@code end} are absolute file offsets. */
    public record Entry(String name, String dtype, long[] shape, long begin, long end) {
        public long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        public boolean floatingPoint() {
            return dtype.startsWith("F") || dtype.equals("BF16");
        }

        public String shapeText() {
            return Arrays.toString(shape);
        }
    }

    private final Path file;
    private final Map<String, Entry> entries;

    private SafeTensors(Path file, Map<String, Entry> entries) {
        this.file = file;
        this.entries = entries;
    }

    /**
     * Reads and validates the header of {@code file}.
     *
     * @throws WeightImportException if the file is missing, not safetensors, truncated, or its header
     *                               is inconsistent; the message names the file and the tensor
     */
    public static SafeTensors open(Path file) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < 8) {
                throw notSafeTensors(file, "it has only " + size + " bytes");
            }
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, lengthBytes, 0);
            long headerLength = lengthBytes.flip().getLong();
            if (headerLength <= 1 || headerLength > MAX_HEADER_BYTES) {
                throw notSafeTensors(file, "its first 8 bytes give a header length of " + headerLength);
            }
            if (8 + headerLength > size) {
                throw new WeightImportException(file + " is truncated: its header announces " + headerLength
                        + " bytes but the file has only " + size + " bytes; copy or export the file again");
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLength);
            readFully(channel, header, 8);
            JsonNode root;
            try {
                root = JSON.readTree(new String(header.array(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw notSafeTensors(file, "its header is not JSON (" + e.getMessage().lines().findFirst().orElse("") + ")");
            }
            if (root == null || !root.isObject()) {
                throw notSafeTensors(file, "its header is not a JSON object");
            }
            return new SafeTensors(file, parseEntries(file, root, 8 + headerLength, size));
        } catch (IOException e) {
            throw new WeightImportException("cannot read weight file " + file + ": " + e.getMessage(), e);
        }
    }

    private static Map<String, Entry> parseEntries(Path file, JsonNode root, long dataStart, long size) {
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            String name = field.getKey();
            if (name.equals("__metadata__")) {
                continue;
            }
            JsonNode node = field.getValue();
            JsonNode dtypeNode = node.get("dtype");
            JsonNode shapeNode = node.get("shape");
            JsonNode offsetsNode = node.get("data_offsets");
            if (dtypeNode == null || !dtypeNode.isTextual() || shapeNode == null || !shapeNode.isArray()
                    || offsetsNode == null || !offsetsNode.isArray() || offsetsNode.size() != 2) {
                throw new WeightImportException(file + ": tensor '" + name + "' has a malformed header entry " + node
                        + " (needs dtype, shape and data_offsets [begin, end]); the file is damaged or not safetensors");
            }
            String dtype = dtypeNode.asText();
            Integer bytes = DTYPE_BYTES.get(dtype);
            if (bytes == null) {
                throw new WeightImportException(file + ": tensor '" + name + "' has unknown dtype " + dtype
                        + "; supported: " + DTYPE_BYTES.keySet());
            }
            long[] shape = new long[shapeNode.size()];
            for (int i = 0; i < shape.length; i++) {
                JsonNode d = shapeNode.get(i);
                if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) {
                    throw new WeightImportException(file + ": tensor '" + name + "' has an invalid shape " + shapeNode);
                }
                shape[i] = d.asLong();
            }
            long begin = offsetsNode.get(0).asLong(-1);
            long end = offsetsNode.get(1).asLong(-1);
            Entry entry = new Entry(name, dtype, shape, dataStart + begin, dataStart + end);
            if (begin < 0 || end < begin || end - begin != entry.elements() * bytes) {
                throw new WeightImportException(file + ": the header lies about tensor '" + name + "': shape "
                        + entry.shapeText() + " of " + dtype + " needs " + entry.elements() * bytes
                        + " bytes but data_offsets [" + begin + ", " + end + "] span " + (end - begin)
                        + "; the file is damaged: export it again");
            }
            if (entry.end() > size) {
                throw new WeightImportException(file + " is truncated: tensor '" + name + "' ends at byte " + entry.end()
                        + " but the file has only " + size + " bytes; copy or export the file again");
            }
            entries.put(name, entry);
        }
        return Collections.unmodifiableMap(entries);
    }

    private static WeightImportException notSafeTensors(Path file, String why) {
        return new WeightImportException(file + " is not a safetensors file: " + why
                + ". Save the state_dict with safetensors.torch.save_file(model.state_dict(), PATH)"
                + " (or an equivalent writer of that format)");
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        long at = position;
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, at);
            if (n < 0) {
                throw new IOException("unexpected end of file at byte " + at);
            }
            at += n;
        }
    }

    public Path file() {
        return file;
    }

    /** Header entries by tensor name, in file order. */
    public Map<String, Entry> entries() {
        return entries;
    }

    /**
     * The tensor's values as float32, in row-major (C) order.
     *
     * @throws WeightImportException for an unknown name or a non-floating-point tensor
     */
    public float[] readFloats(String name) {
        Entry entry = entries.get(name);
        if (entry == null) {
            throw new WeightImportException(file + " has no tensor '" + name + "'");
        }
        if (!entry.floatingPoint()) {
            throw new WeightImportException(file + ": tensor '" + name + "' is " + entry.dtype()
                    + ", expected a floating-point tensor");
        }
        if (entry.elements() > Integer.MAX_VALUE - 8) {
            throw new WeightImportException(file + ": tensor '" + name + "' " + entry.shapeText() + " is too large to read");
        }
        int n = (int) entry.elements();
        float[] values = new float[n];
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer bytes = ByteBuffer.allocate((int) (entry.end() - entry.begin())).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, bytes, entry.begin());
            bytes.flip();
            switch (entry.dtype()) {
                case "F32" -> bytes.asFloatBuffer().get(values);
                case "F64" -> {
                    for (int i = 0; i < n; i++) {
                        values[i] = (float) bytes.getDouble();
                    }
                }
                case "BF16" -> {
                    for (int i = 0; i < n; i++) {
                        values[i] = Float.intBitsToFloat((bytes.getShort() & 0xffff) << 16);
                    }
                }
                case "F16" -> {
                    for (int i = 0; i < n; i++) {
                        values[i] = halfToFloat(bytes.getShort());
                    }
                }
                default -> throw new IllegalStateException("unhandled dtype " + entry.dtype());
            }
        } catch (IOException e) {
            throw new WeightImportException("cannot read tensor '" + name + "' from " + file + ": " + e.getMessage(), e);
        }
        return values;
    }

    static float halfToFloat(short half) {
        int bits = half & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exponent = (bits >>> 10) & 0x1f;
        int mantissa = bits & 0x3ff;
        if (exponent == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            float value = mantissa * 0x1p-24f; // subnormal
            return sign == 0 ? value : -value;
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }
}
