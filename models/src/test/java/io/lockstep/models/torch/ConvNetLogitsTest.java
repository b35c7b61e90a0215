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
 * The zoo's convolutional networks compute exactly what their PyTorch definitions compute: PyTorch
 * weights (random, fixed seed) imported into the zoo model give the same logits in inference mode, to
 * 1e-4 of the largest logit. lenet5 and simplecnn are compared with the equivalent PyTorch modules of the
 * export script, the others with torchvision's models.
 *
 * <p>Inputs are as small as keeps torchvision's own layout: 64x64 still gives DenseNet its 7x7 stem and
 * max-pool and makes every ceil-mode pool of GoogLeNet round up; Inception-v3 runs at 299x299, the
 * smallest input at which torchvision's auxiliary classifier works, so that classifier is compared too.
 */
class ConvNetLogitsTest {
    private static final InputShape IMAGENET = new InputShape(3, 224, 224);
    private static final InputShape SMALL = new InputShape(3, 64, 64);

    static final List<Case> CASES = List.of(
            new Case("lenet5", new InputShape(1, 28, 28), 10, 2),
            new Case("simplecnn", SMALL, 10, 2),
            new Case("googlenet", SMALL, 10, 2),
            new Case("densenet121", SMALL, 10, 2),
            new Case("alexnet", IMAGENET, 1000, 2),
            new Case("vgg11_bn", IMAGENET, 1000, 2),
            new Case("resnet18", IMAGENET, 1000, 2),
            new Case("resnet50", IMAGENET, 1000, 2),
            new Case("inception_v3", new InputShape(3, 299, 299), 1000, 1));

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
