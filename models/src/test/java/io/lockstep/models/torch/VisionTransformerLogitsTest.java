package io.lockstep.models.torch;

import io.lockstep.models.InputShape;
import io.lockstep.models.ModelOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/**
 * Lockstep's Vision Transformers compute what torchvision's compute: a randomly initialized
 * {@code torchvision.models.vit_b_16} (and torchvision's {@code VisionTransformer} with vit_small's
 * sizes) imported through the safetensors state_dict gives the same logits in inference mode, to 1e-4 of
 * the largest logit. This checks the packed query/key/value projection, the exact GELU, LayerNorm eps
 * 1e-6, the class token and position embeddings, and the token order of the patch embedding.
 */
class VisionTransformerLogitsTest {
    private static final InputShape IMAGENET = new InputShape(3, 224, 224);
    private static final InputShape FASHION_MNIST = new InputShape(1, 28, 28);

    @TempDir
    static Path dir;

    @BeforeAll
    static void exportReferences() throws Exception {
        TorchReference.export(dir, FASHION_MNIST, 10, "vit_small");
        TorchReference.export(dir, IMAGENET, 1000, "vit_b_16");
    }

    @Test
    void smallVit() {
        TorchReference.assertLogitsEqual(dir, "vit_small", ModelOptions.of(10, FASHION_MNIST));
    }

    @Test
    void vitB16() {
        TorchReference.assertLogitsEqual(dir, "vit_b_16", ModelOptions.of(1000, IMAGENET));
    }
}
