package io.lockstep.models;

import org.deeplearning4j.nn.graph.ComputationGraph;

import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The model zoo: every architecture by its command-line name, in a stable order (LeNet-5, SimpleCNN,
 * the CIFAR ResNets, AlexNet, VGG, the ImageNet ResNets, GoogLeNet, Inception-v3, DenseNet, the Vision
 * Transformers). Immutable and thread-safe.
 */
public final class ModelRegistry {
    private static final List<Architecture> ALL = List.of(
            new LeNet5(),
            new SimpleCnn(),
            CifarResNet.withBlocksPerStage(3),
            CifarResNet.withBlocksPerStage(5),
            CifarResNet.withBlocksPerStage(7),
            CifarResNet.withBlocksPerStage(9),
            CifarResNet.withBlocksPerStage(18),
            new AlexNet(),
            Vgg.vgg11(false),
            Vgg.vgg11(true),
            Vgg.vgg13(false),
            Vgg.vgg13(true),
            Vgg.vgg16(false),
            Vgg.vgg16(true),
            Vgg.vgg19(false),
            Vgg.vgg19(true),
            ResNet.resnet18(),
            ResNet.resnet34(),
            ResNet.resnet50(),
            ResNet.resnet101(),
            ResNet.resnet152(),
            new GoogLeNet(),
            new InceptionV3(),
            DenseNet.densenet121(),
            DenseNet.densenet161(),
            DenseNet.densenet169(),
            DenseNet.densenet201(),
            DenseNet.densenetBc(40),
            DenseNet.densenetBc(100),
            VisionTransformer.vitSmall(),
            VisionTransformer.vitB16(),
            VisionTransformer.vitB32(),
            VisionTransformer.vitL16(),
            VisionTransformer.vitL32(),
            VisionTransformer.vitH14());

    /**
     * The models whose inference logits are tested equal to their PyTorch definition's (torchvision's; for
     * lenet5 and simplecnn the equivalent PyTorch module) after importing that definition's state_dict,
     * to 1e-4 of the largest logit. Models of the same families share their builders with these but are
     * not compared themselves.
     */
    private static final Set<String> LOGITS_MATCH_PYTORCH = Set.of(
            "lenet5", "simplecnn", "alexnet", "vgg11_bn", "resnet18", "resnet50", "googlenet", "inception_v3",
            "densenet121", "vit_small", "vit_b_16");

    private ModelRegistry() {
    }

    /**
     * Whether a test proves that {@code name}, with weights imported from a PyTorch state_dict, computes the
     * same logits as its PyTorch definition ({@code lockstep models} shows it).
     */
    public static boolean logitsMatchPyTorch(String name) {
        return LOGITS_MATCH_PYTORCH.contains(get(name).name());
    }

    /** The names for which {@link #logitsMatchPyTorch} holds. */
    public static Set<String> logitsMatchingPyTorch() {
        return LOGITS_MATCH_PYTORCH;
    }

    /** Every architecture, in a stable order. */
    public static List<Architecture> all() {
        return ALL;
    }

    /** Registry names in {@link #all()} order. */
    public static List<String> names() {
        return ALL.stream().map(Architecture::name).toList();
    }

    /**
     * The architecture called {@code name} (case-insensitive, surrounding blanks ignored).
     *
     * @throws IllegalArgumentException for an unknown name; the message lists every valid name
     */
    public static Architecture get(String name) {
        Objects.requireNonNull(name, "model name");
        String wanted = name.trim().toLowerCase(Locale.ROOT);
        for (Architecture a : ALL) {
            if (a.name().equals(wanted)) {
                return a;
            }
        }
        throw new IllegalArgumentException("unknown model '" + name + "'; choose one of: "
                + ALL.stream().map(Architecture::name).collect(Collectors.joining(", ")));
    }

    /**
     * Builds and initializes (allocates and randomly initializes the parameters of) the model.
     * The caller owns the returned graph; it is not thread-safe.
     */
    public static ComputationGraph build(String name, ModelOptions options) {
        ComputationGraph graph = new ComputationGraph(get(name).configuration(options));
        graph.init();
        return graph;
    }
}
