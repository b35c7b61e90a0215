package io.lockstep.models.torch;

import io.lockstep.models.InputShape;
import io.lockstep.models.torch.TorchReference.Case;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.nio.file.Path;
import java.util.List;

/**
 * Lockstep's Vision Transformers compute what torchvision's compute: a randomly initialized
 * {@code torchvision.models.vit_b_16} (and torchvision's {@code VisionTransformer} with vit_small's
 * sizes) imported through the safetensors state_dict gives the same logits in inference mode, to 1e-4 of
 * the largest logit. This checks the packed query/key/value projection, the exact GELU, LayerNorm eps
 * 1e-6, the class token and position embeddings, and the token order of the patch embedding.
 */
class VisionTransformerLogitsTest {
    static final List<Case> CASES = List.of(
            new Case("vit_small", new InputShape(1, 28, 28), 10, 2),
            new Case("vit_b_16", new InputShape(3, 224, 224), 1000, 2));

    @TempDir
    static Path dir;

    @BeforeAll
    static void exportReferences() throws Exception {
        TorchReference.export(dir, CASES);
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("CASES")
    void logitsEqualPyTorch(Case c) {
        TorchReference.assertLogitsEqual(dir, c);
    }
}
