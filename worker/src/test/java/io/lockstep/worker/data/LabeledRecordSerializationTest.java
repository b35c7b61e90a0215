package io.lockstep.worker.data;

import io.lockstep.models.InputShape;
import org.apache.spark.SparkConf;
import org.apache.spark.serializer.JavaSerializer;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.SerializerInstance;
import org.junit.jupiter.api.Test;
import scala.reflect.ClassTag$;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LabeledRecordSerializationTest {

    private static List<LabeledRecord> shard(int n) {
        List<LabeledRecord> records = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            byte[] pixels = new byte[784];
            pixels[i % 784] = (byte) i;
            records.add(new LabeledRecord(i % 10, pixels));
        }
        return records;
    }

    @Test
    void aShardOf30000ImagesCostsLittleMoreThanItsPixelsInJavaSerialization() throws IOException {
        List<LabeledRecord> records = shard(30_000);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(new ArrayList<>(records));
        }
        long pixels = 30_000L * 784;
        assertTrue(bytes.size() < pixels + 30_000L * 32, "serialized " + bytes.size() + " bytes for " + pixels + " bytes of pixels");
    }

    @Test
    void recordsRoundTripThroughSparksKryoAndJavaSerializers() {
        SparkConf conf = new SparkConf().set("spark.kryo.registrationRequired", "false");
        for (SerializerInstance serializer : List.of(new KryoSerializer(conf).newInstance(), new JavaSerializer(conf).newInstance())) {
            LabeledRecord record = new LabeledRecord(7, new byte[]{1, 2, 3}, "cats/1.png");
            ByteBuffer buffer = serializer.serialize(record, ClassTag$.MODULE$.apply(LabeledRecord.class));
            LabeledRecord copy = serializer.deserialize(buffer, ClassTag$.MODULE$.apply(LabeledRecord.class));
            assertEquals(7, copy.label());
            assertArrayEquals(new byte[]{1, 2, 3}, copy.payload());
            assertEquals("cats/1.png", copy.source());
        }
    }

    @Test
    void decoderSurvivesJavaSerializationLikeASparkClosure() {
        ImageTransform transform = ImageTransform.plain(new InputShape(3, 8, 8))
                .withAugmentation(2, true, false, 0.08)
                .withNormalizer(new Normalizer(new float[]{0.1f, 0.2f, 0.3f}, new float[]{0.5f, 0.5f, 0.5f}));
        ImageBatchDecoder decoder = new ImageBatchDecoder(RecordFormat.raw(1, 8, 8), transform, 4, BadRecordPolicy.SKIP);
        SerializerInstance java = new JavaSerializer(new SparkConf()).newInstance();
        ImageBatchDecoder copy = java.deserialize(java.serialize(decoder, ClassTag$.MODULE$.apply(ImageBatchDecoder.class)),
                ClassTag$.MODULE$.apply(ImageBatchDecoder.class));
        assertEquals(transform, copy.transform());
        List<LabeledRecord> records = List.of(new LabeledRecord(3, new byte[64]), new LabeledRecord(1, new byte[5], "bad"));
        assertArrayEquals(decoder.decode(records, true, 9, 1, 2, 3).getFeatures().dup().data().asFloat(),
                copy.decode(records, true, 9, 1, 2, 3).getFeatures().dup().data().asFloat(), 0f);
        assertEquals(1, copy.skipped().size());
    }
}
