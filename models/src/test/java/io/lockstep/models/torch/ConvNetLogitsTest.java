package io.lockstep.models.torch;

import io.lockstep.models.InputShape;
import io.lockstep.models.ModelOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/**
 * The zoo's convolutional networks compute exactly what torchvision's definitions compute: PyTorch
 * weights (random, fixed seed) imported into the zoo model give the same logits in inference mode, to
 * 1e-4 of the largest logit. lenet5 is compared with the equivalent PyTorch module in the export script.
 */
class ConvNetLogitsTest {
    private static final InputShape IMAGENET = new InputShape(3, 224, 224);
    private static final InputShape MNIST = new InputShape(1, 28, 28);

    @TempDir
    static Path dir;

    @BeforeAll
    static void exportReferences() throws Exception {
        TorchReference.export(dir, MNIST, 10, "lenet5");
        TorchReference.export(dir, IMAGENET, 1000, "alexnet", "vgg11_bn", "resnet18", "resnet50");
    }

    @Test
    void lenet5() {
        TorchReference.assertLogitsEqual(dir, "lenet5", ModelOptions.of(10, MNIST));
    }

    @Test
    void alexnet() {
        TorchReference.assertLogitsEqual(dir, "alexnet", ModelOptions.of(1000, IMAGENET));
    }

    @Test
    void vgg11WithBatchNorm() {
        TorchReference.assertLogitsEqual(dir, "vgg11_bn", ModelOptions.of(1000, IMAGENET));
    }

    @Test
    void resnet18() {
        TorchReference.assertLogitsEqual(dir, "resnet18", ModelOptions.of(1000, IMAGENET));
    }

    @Test
    void resnet50() {
        TorchReference.assertLogitsEqual(dir, "resnet50", ModelOptions.of(1000, IMAGENET));
    }
}
