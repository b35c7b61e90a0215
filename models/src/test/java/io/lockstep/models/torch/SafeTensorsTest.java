package io.lockstep.models.torch;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafeTensorsTest {
    @TempDir
    Path dir;

    /** Writes a safetensors file by hand: header length, JSON header, data. */
    static Path write(Path file, String header, byte[] data) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).array());
        out.write(json);
        out.write(data);
        Files.write(file, out.toByteArray());
        return file;
    }

    static byte[] floats(float... values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.array();
    }

    @Test
    void readsTensorsOfEveryFloatingPointTypeInFileOrder() throws IOException {
        ByteBuffer data = ByteBuffer.allocate(24 + 16 + 4 + 4 + 8).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : new float[]{1, 2, 3, 4, 5, 6}) {
            data.putFloat(v);
        }
        data.putDouble(-1.5).putDouble(2.25);
        data.putShort((short) 0x3c00).putShort((short) 0xc000); // F16 1.0, -2.0
        data.putShort((short) 0x3f80).putShort((short) 0x4040); // BF16 1.0, 3.0
        data.putLong(7);
        Path file = write(dir.resolve("t.safetensors"), "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                + "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[24,40]},"
                + "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[40,44]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[44,48]},"
                + "\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[48,56]}}", data.array());
        SafeTensors t = SafeTensors.open(file);
        assertEquals(java.util.List.of("w", "d", "h", "b", "n"), java.util.List.copyOf(t.entries().keySet()));
        assertArrayEquals(new long[]{2, 3}, t.entries().get("w").shape());
        assertArrayEquals(new float[]{1, 2, 3, 4, 5, 6}, t.readFloats("w"));
        assertArrayEquals(new float[]{-1.5f, 2.25f}, t.readFloats("d"));
        assertArrayEquals(new float[]{1f, -2f}, t.readFloats("h"));
        assertArrayEquals(new float[]{1f, 3f}, t.readFloats("b"));
        assertEquals(1, t.entries().get("n").elements());
        WeightImportException integer = assertThrows(WeightImportException.class, () -> t.readFloats("n"));
        assertTrue(integer.getMessage().contains("'n' is I64"), integer.getMessage());
    }

    @Test
    void halfPrecisionCoversSubnormalsAndInfinity() {
        assertEquals(0x1p-24f, SafeTensors.halfToFloat((short) 0x0001));
        assertEquals(Float.NEGATIVE_INFINITY, SafeTensors.halfToFloat((short) 0xfc00));
        assertEquals(65504f, SafeTensors.halfToFloat((short) 0x7bff));
    }

    @Test
    void truncatedDataNamesTheTensorThatDoesNotFit() throws IOException {
        Path file = write(dir.resolve("cut.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", floats(1, 2, 3));
        WeightImportException e = assertThrows(WeightImportException.class, () -> SafeTensors.open(file));
        assertTrue(e.getMessage().contains("truncated") && e.getMessage().contains("'fc.weight'")
                && e.getMessage().contains("export the file again"), e.getMessage());
    }

    @Test
    void truncatedHeaderIsReportedAsTruncation() throws IOException {
        Path full = write(dir.resolve("full.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", floats(1));
        byte[] bytes = Files.readAllBytes(full);
        Path cut = Files.write(dir.resolve("cut.safetensors"), Arrays.copyOf(bytes, 20));
        WeightImportException e = assertThrows(WeightImportException.class, () -> SafeTensors.open(cut));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void otherFormatsAreRejectedWithTheWayToSaveSafetensors() throws IOException {
        // A .pt file is a zip archive: its first 8 bytes read as an absurd header length.
        Path zip = Files.write(dir.resolve("model.pt"), new byte[]{'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0});
        WeightImportException e = assertThrows(WeightImportException.class, () -> SafeTensors.open(zip));
        assertTrue(e.getMessage().contains("not a safetensors file") && e.getMessage().contains("save_file"), e.getMessage());

        Path text = write(dir.resolve("text.safetensors"), "hello, world", new byte[0]);
        e = assertThrows(WeightImportException.class, () -> SafeTensors.open(text));
        assertTrue(e.getMessage().contains("not JSON"), e.getMessage());

        Path tiny = Files.write(dir.resolve("tiny"), new byte[3]);
        e = assertThrows(WeightImportException.class, () -> SafeTensors.open(tiny));
        assertTrue(e.getMessage().contains("only 3 bytes"), e.getMessage());

        WeightImportException missing = assertThrows(WeightImportException.class,
                () -> SafeTensors.open(dir.resolve("absent.safetensors")));
        assertTrue(missing.getMessage().contains("absent.safetensors"), missing.getMessage());
    }

    @Test
    void headerThatLiesAboutSizesNamesTheTensor() throws IOException {
        Path file = write(dir.resolve("lie.safetensors"),
                "{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", floats(1, 2, 3, 4));
        WeightImportException e = assertThrows(WeightImportException.class, () -> SafeTensors.open(file));
        assertTrue(e.getMessage().contains("lies about tensor 'conv1.weight'") && e.getMessage().contains("needs 16 bytes"),
                e.getMessage());
    }

    @Test
    void malformedEntriesAndUnknownTypesAreNamed() throws IOException {
        Path noOffsets = write(dir.resolve("a.safetensors"), "{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", floats(1));
        assertTrue(assertThrows(WeightImportException.class, () -> SafeTensors.open(noOffsets)).getMessage()
                .contains("tensor 'x' has a malformed header entry"));
        Path unknown = write(dir.resolve("b.safetensors"), "{\"x\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", new byte[1]);
        assertTrue(assertThrows(WeightImportException.class, () -> SafeTensors.open(unknown)).getMessage()
                .contains("unknown dtype F8"));
        Path negative = write(dir.resolve("c.safetensors"), "{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", floats(1));
        assertTrue(assertThrows(WeightImportException.class, () -> SafeTensors.open(negative)).getMessage()
                .contains("invalid shape"));
    }
}
