package io.lockstep.models;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;

/**
 * One entry of the model zoo. Every configuration it builds is a {@code ComputationGraph} with a
 * single input named {@link #INPUT} (NCHW images) and, as its first output, a softmax output layer
 * named {@link #OUTPUT} trained with multi-class cross-entropy: predictions are output 0. An
 * architecture may add auxiliary softmax outputs for the same classes that only shape the training
 * loss (Inception-v3); train through {@link TrainingBatches}, which repeats the labels for them.
 * Implementations are stateless and thread-safe.
 *
 * <p>Vertex names follow the reference PyTorch module paths with dots replaced by underscores, so a
 * {@code state_dict} key maps to a vertex and parameter mechanically: {@code layer1.0.conv1.weight}
 * is the weight of vertex {@code layer1_0_conv1}; the final classifier ({@code fc},
 * {@code classifier}, {@code fc2}) is always the vertex {@link #OUTPUT}. Vertices without a PyTorch
 * counterpart (ReLU applied functionally, concatenations, padding for ceil-mode pools) carry names
 * that no {@code state_dict} key maps to, and hold no parameters. Each architecture's class comment
 * lists its exceptions.
 */
public interface Architecture {
    String INPUT = "input";
    String OUTPUT = "output";

    /** Registry name, lower case, as typed on the command line (e.g. {@code resnet20}). */
    String name();

    /** One line for {@code lockstep models}. */
    String description();

    /** The input the architecture was defined for (e.g. 3x224x224 for the ImageNet models). */
    InputShape defaultInput();

    /** Number of classes of the reference definition (1000 for ImageNet models, 10 otherwise). */
    int defaultClasses();

    /** Smallest height/width this architecture accepts once its stem has adapted to small inputs. */
    int minimumSize();

    /**
     * Whether {@link #configuration} builds this activation layout (with BatchNorm or no normalization).
     * NCHW always; an architecture that says yes to another layout must give it exactly the parameters
     * of its NCHW build, in the same order.
     */
    default boolean supportsLayout(ActivationLayout layout) {
        return layout == ActivationLayout.NCHW;
    }

    /**
     * Builds the configuration.
     *
     * @throws IllegalArgumentException if the input is smaller than {@link #minimumSize()}; the
     *                                  message names the minimum size
     */
    ComputationGraphConfiguration configuration(ModelOptions options);

    /**
     * The name of the PyTorch module whose parameters {@code vertex} holds in the reference
     * definition's {@code state_dict} (torchvision's, or the matching module written for the
     * architecture), used to import PyTorch weights. The default suits vertices named after their
     * module with dots replaced by underscores ({@code layer1_0_conv1} is {@code layer1.0.conv1}).
     * Override it for the output layer and wherever a PyTorch name itself contains an underscore.
     */
    default String torchModule(String vertex) {
        return vertex.replace('_', '.');
    }
}
