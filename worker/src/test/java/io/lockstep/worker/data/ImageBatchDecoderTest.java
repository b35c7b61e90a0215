package io.lockstep.worker.data;

import io.lockstep.models.InputShape;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageBatchDecoderTest {
    private static final RecordFormat GRAY_4x4 = RecordFormat.raw(1, 4, 4);

    /** A 4x4 grayscale image whose pixel (y, x) is 16 * y + x (0..255 after scaling by 17). */
    private static byte[] ramp() {
        byte[] pixels = new byte[16];
        for (int i = 0; i < 16; i++) {
            pixels[i] = (byte) (i * 17);
        }
        return pixels;
    }

    private static float[] decodeOne(RecordFormat format, ImageTransform transform, byte[] payload, AugmentRandom random) {
        RecordDecoder decoder = new RecordDecoder(format, transform);
        float[] out = new float[decoder.outputSize()];
        decoder.decode(new LabeledRecord(0, payload), random, out, 0);
        return out;
    }

    @Test
    void rawBatchHasNchwFeaturesScaledToUnitRangeAndOneHotLabels() {
        ImageBatchDecoder decoder = new ImageBatchDecoder(GRAY_4x4, ImageTransform.plain(new InputShape(1, 4, 4)), 3, BadRecordPolicy.FAIL);
        byte[] white = new byte[16];
        java.util.Arrays.fill(white, (byte) 255);
        DataSet batch = decoder.decode(List.of(new LabeledRecord(2, ramp()), new LabeledRecord(0, white)), false, 1, 0, 0, 0);

        assertArrayEquals(new long[]{2, 1, 4, 4}, batch.getFeatures().shape());
        assertArrayEquals(new long[]{2, 3}, batch.getLabels().shape());
        assertArrayEquals(new float[]{0, 0, 1, 1, 0, 0}, batch.getLabels().dup().data().asFloat());
        float[] features = batch.getFeatures().dup().data().asFloat();
        for (int i = 0; i < 16; i++) {
            assertEquals(i * 17 / 255f, features[i], 1e-6, "pixel " + i + " of the ramp");
            assertEquals(1f, features[16 + i], 1e-6, "pixel " + i + " of the white image");
        }
    }

    @Test
    void sameSizeDeterministicTransformCopiesPixelsExactly() {
        float[] out = decodeOne(GRAY_4x4, ImageTransform.plain(new InputShape(1, 4, 4)), ramp(), null);
        for (int i = 0; i < 16; i++) {
            assertEquals(i * 17 / 255f, out[i], 1e-7);
        }
    }

    @Test
    void grayscaleIsReplicatedToRgbAndRgbBecomesLuma() {
        float[] rgb = decodeOne(GRAY_4x4, ImageTransform.plain(new InputShape(3, 4, 4)), ramp(), null);
        for (int i = 0; i < 16; i++) {
            assertEquals(rgb[i], rgb[16 + i], 0f);
            assertEquals(rgb[i], rgb[32 + i], 0f);
        }
        byte[] pureRed = new byte[3 * 4];
        for (int i = 0; i < 4; i++) {
            pureRed[i] = (byte) 255;
        }
        float[] gray = decodeOne(RecordFormat.raw(3, 2, 2), ImageTransform.plain(new InputShape(1, 2, 2)), pureRed, null);
        for (float v : gray) {
            assertEquals(0.299f, v, 1e-6, "ITU-R 601 luma of pure red");
        }
    }

    @Test
    void downscalingAveragesBlocksAndUpscalingInterpolates() {
        // 4x4 -> 2x2: a factor-2 shrink averages each 2x2 block exactly.
        float[] small = decodeOne(GRAY_4x4, ImageTransform.plain(new InputShape(1, 2, 2)), ramp(), null);
        float[] expected = {(0 + 1 + 4 + 5) / 4f, (2 + 3 + 6 + 7) / 4f, (8 + 9 + 12 + 13) / 4f, (10 + 11 + 14 + 15) / 4f};
        for (int i = 0; i < 4; i++) {
            assertEquals(expected[i] * 17 / 255f, small[i], 1e-6, "block " + i);
        }
        // 2x2 -> 4x4 of a horizontal 0/1 edge: corners keep their values, inner columns interpolate 1/4 and 3/4.
        byte[] edge = {0, (byte) 255, 0, (byte) 255};
        float[] large = decodeOne(RecordFormat.raw(1, 2, 2), ImageTransform.plain(new InputShape(1, 4, 4)), edge, null);
        assertArrayEquals(new float[]{0, 0.25f, 0.75f, 1}, java.util.Arrays.copyOfRange(large, 0, 4), 1e-6f);
    }

    @Test
    void flipMirrorsAndPaddedCropShiftsWithZeroFill() {
        ImageTransform flipOnly = ImageTransform.plain(new InputShape(1, 4, 4)).withAugmentation(0, true, false, 0.08);
        int flipped = 0;
        for (int step = 0; step < 20; step++) {
            float[] out = decodeOne(GRAY_4x4, flipOnly, ramp(), new AugmentRandom(7, 0, 0, step));
            boolean mirrored = Math.abs(out[0] - 3 * 17 / 255f) < 1e-6;
            if (mirrored) {
                flipped++;
                for (int y = 0; y < 4; y++) {
                    for (int x = 0; x < 4; x++) {
                        assertEquals((4 * y + 3 - x) * 17 / 255f, out[4 * y + x], 1e-6);
                    }
                }
            } else {
                assertEquals(0f, out[0], 0f);
            }
        }
        assertTrue(flipped > 3 && flipped < 17, "about half of 20 images flipped, got " + flipped);

        ImageTransform crop = ImageTransform.plain(new InputShape(1, 4, 4)).withAugmentation(1, false, false, 0.08);
        boolean sawShift = false;
        for (int step = 0; step < 20; step++) {
            float[] out = decodeOne(GRAY_4x4, crop, ramp(), new AugmentRandom(7, 0, 0, step));
            int dy = findShift(out);
            int dx = findShiftX(out);
            sawShift |= dy != 0 || dx != 0;
            for (int y = 0; y < 4; y++) {
                for (int x = 0; x < 4; x++) {
                    int sy = y - dy;
                    int sx = x - dx;
                    float expected = sy < 0 || sy > 3 || sx < 0 || sx > 3 ? 0f : (4 * sy + sx) * 17 / 255f;
                    assertEquals(expected, out[4 * y + x], 1e-6, "step " + step + " shift " + dy + "," + dx + " pixel " + y + "," + x);
                }
            }
        }
        assertTrue(sawShift, "a padding of 1 shifts some images");
    }

    /** The vertical shift implied by where the ramp's value at column 1, 2 lands (rows 1-2 always hold source pixels). */
    private static int findShift(float[] out) {
        float v = out[4 * 1 + 1] * 255f / 17f; // 4 * sy + sx at output (1, 1)
        int sourceIndex = Math.round(v);
        return 1 - sourceIndex / 4;
    }

    private static int findShiftX(float[] out) {
        int sourceIndex = Math.round(out[4 * 1 + 1] * 255f / 17f);
        return 1 - sourceIndex % 4;
    }

    @Test
    void augmentationDependsOnSeedRankEpochAndStepOnlyAndEvaluationNeverAugments() {
        ImageTransform augmenting = ImageTransform.plain(new InputShape(1, 8, 8)).withAugmentation(2, true, true, 0.3);
        ImageBatchDecoder decoder = new ImageBatchDecoder(RecordFormat.raw(1, 8, 8), augmenting, 2, BadRecordPolicy.FAIL);
        List<LabeledRecord> records = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            byte[] pixels = new byte[64];
            for (int p = 0; p < 64; p++) {
                pixels[p] = (byte) (p * 3 + i * 7);
            }
            records.add(new LabeledRecord(i % 2, pixels));
        }
        float[] a = decoder.decode(records, true, 5, 1, 0, 3).getFeatures().dup().data().asFloat();
        float[] again = decoder.decode(records, true, 5, 1, 0, 3).getFeatures().dup().data().asFloat();
        float[] otherRank = decoder.decode(records, true, 5, 1, 1, 3).getFeatures().dup().data().asFloat();
        float[] otherEpoch = decoder.decode(records, true, 5, 2, 0, 3).getFeatures().dup().data().asFloat();
        float[] eval = decoder.decode(records, false, 5, 1, 0, 3).getFeatures().dup().data().asFloat();
        float[] plain = new ImageBatchDecoder(RecordFormat.raw(1, 8, 8), augmenting.deterministic(), 2, BadRecordPolicy.FAIL)
                .decode(records, true, 5, 1, 0, 3).getFeatures().dup().data().asFloat();
        assertArrayEquals(a, again, 0f);
        assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(otherRank));
        assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(otherEpoch));
        assertArrayEquals(plain, eval, 0f);
    }

    @Test
    void normalizerIsAppliedPerChannelAndPaddingIsZeroBeforeNormalization() {
        Normalizer normalizer = new Normalizer(new float[]{0.5f}, new float[]{0.25f});
        ImageTransform transform = ImageTransform.plain(new InputShape(1, 4, 4)).withNormalizer(normalizer);
        float[] out = decodeOne(GRAY_4x4, transform, ramp(), null);
        for (int i = 0; i < 16; i++) {
            assertEquals((i * 17 / 255f - 0.5f) / 0.25f, out[i], 1e-5);
        }
        ImageTransform padded = transform.withAugmentation(3, false, false, 0.08);
        for (int step = 0; step < 10; step++) {
            float[] shifted = decodeOne(GRAY_4x4, padded, new byte[16], new AugmentRandom(1, 0, 0, step));
            for (float v : shifted) {
                assertEquals(-2f, v, 1e-6, "black pixels and zero padding both normalize to (0 - 0.5) / 0.25");
            }
        }
    }

    @Test
    void randomResizedCropStaysInsideTheImageWithinScaleAndRatio() {
        AugmentRandom random = new AugmentRandom(3, 0, 0, 0);
        for (int i = 0; i < 2000; i++) {
            long box = RecordDecoder.randomResizedCrop(random, 60, 90, 0.08);
            int h = (int) (box >>> 48);
            int w = (int) (box >>> 32) & 0xFFFF;
            int top = (int) (box >>> 16) & 0xFFFF;
            int left = (int) box & 0xFFFF;
            assertTrue(h >= 1 && w >= 1 && top + h <= 60 && left + w <= 90, "box " + w + "x" + h + " at " + left + "," + top);
            double area = (double) h * w / (60 * 90);
            assertTrue(area > 0.06 && area <= 1.0, "area fraction " + area);
        }
    }

    @Test
    void wrongLengthRawRecordNamesTheRecordOrIsSkipped() {
        ImageTransform transform = ImageTransform.plain(new InputShape(1, 4, 4));
        LabeledRecord shortRecord = new LabeledRecord(1, new byte[15], "train-images-idx3-ubyte record 9");
        ImageBatchDecoder failing = new ImageBatchDecoder(GRAY_4x4, transform, 2, BadRecordPolicy.FAIL);
        BadRecordException e = assertThrows(BadRecordException.class,
                () -> failing.decode(List.of(new LabeledRecord(0, ramp()), shortRecord), true, 1, 0, 0, 0));
        assertTrue(e.getMessage().contains("train-images-idx3-ubyte record 9") && e.getMessage().contains("15 bytes"), e.getMessage());

        ImageBatchDecoder skipping = new ImageBatchDecoder(GRAY_4x4, transform, 2, BadRecordPolicy.SKIP);
        DataSet batch = skipping.decode(List.of(new LabeledRecord(0, ramp()), shortRecord), true, 1, 0, 0, 0);
        assertEquals(1, batch.numExamples());
        assertEquals(List.of("train-images-idx3-ubyte record 9"), skipping.skipped().stream().map(SkippedRecord::source).toList());
        assertThrows(BadRecordException.class, () -> skipping.decode(List.of(shortRecord), true, 1, 0, 0, 0));
    }
}
