package io.lockstep.driver.data;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.worker.data.ImageTransform;
import io.lockstep.worker.data.Normalizer;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The transform is stored with the model as JSON (next to the class names) and read back for evaluation. */
class ImageTransformJsonTest {
    @Test
    void transformWithNormalizerRoundTripsThroughJackson() throws Exception {
        ImageTransform transform = new ImageTransform(3, 32, 32, 4, true, false, 0.08,
                new Normalizer(new float[]{0.4914f, 0.4822f, 0.4465f}, new float[]{0.247f, 0.2435f, 0.2616f}));
        ObjectMapper json = new ObjectMapper();
        String text = json.writeValueAsString(transform);
        assertTrue(text.contains("\"mean\":[0.4914,0.4822,0.4465]"), text);
        ImageTransform back = json.readValue(text, ImageTransform.class);
        assertEquals(transform, back);
        assertEquals(transform.deterministic(), back.deterministic());
    }

    @Test
    void explicitNormalizerParsesItsOwnFormat() {
        Normalizer normalizer = Normalizer.parse("0.2860/0.3530");
        assertEquals(normalizer, Normalizer.parse(normalizer.format()));
        assertEquals(0.353f, normalizer.std()[0], 0f);
    }
}
