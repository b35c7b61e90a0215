package io.lockstep.worker.train;

import io.lockstep.models.ActivationLayout;
import io.lockstep.models.Architecture;
import io.lockstep.models.InputShape;
import io.lockstep.models.ModelOptions;
import io.lockstep.models.ModelRegistry;
import io.lockstep.models.Normalization;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.io.Serializable;

/**
 * Everything needed to build the same initial model on any JVM: the driver sends it to every task,
 * and equal recipes give bit-identical initial parameters (DL4J initializes from the seed).
 *
 * @param architecture  registry name, e.g. {@code resnet20}
 * @param numClasses    output classes
 * @param channels      input channels
 * @param height        input height in pixels
 * @param width         input width in pixels
 * @param normalization per-layer normalization the architecture is built with
 * @param seed          weight-initialization seed
 * @param optimizer     optimizer kind
 * @param learningRate  base learning rate (before replica scaling and warm-up)
 * @param weightDecay   weight decay coefficient, 0 for none
 * @param normGroups    group count for {@link Normalization#GROUP} (see {@link ModelOptions#normGroups()})
 * @param layout        activation layout the model is built and trained in ({@link ModelOptions#layout()});
 *                      {@code null} (a checkpoint written before the layout was recorded) means NCHW
 */
public record ModelRecipe(String architecture, int numClasses, int channels, int height, int width,
                          Normalization normalization, long seed, Optimizer optimizer, double learningRate,
                          double weightDecay, int normGroups, ActivationLayout layout) implements Serializable {

    public ModelRecipe {
        layout = layout == null ? ActivationLayout.NCHW : layout;
    }

    /** An NCHW recipe. */
    public ModelRecipe(String architecture, int numClasses, int channels, int height, int width,
                       Normalization normalization, long seed, Optimizer optimizer, double learningRate,
                       double weightDecay, int normGroups) {
        this(architecture, numClasses, channels, height, width, normalization, seed, optimizer, learningRate,
                weightDecay, normGroups, ActivationLayout.NCHW);
    }

    /** An NCHW recipe with {@link ModelOptions#DEFAULT_NORM_GROUPS} groups for GroupNorm. */
    public ModelRecipe(String architecture, int numClasses, int channels, int height, int width,
                       Normalization normalization, long seed, Optimizer optimizer, double learningRate,
                       double weightDecay) {
        this(architecture, numClasses, channels, height, width, normalization, seed, optimizer, learningRate,
                weightDecay, ModelOptions.DEFAULT_NORM_GROUPS);
    }

    public InputShape inputShape() {
        return new InputShape(channels, height, width);
    }

    public Architecture resolve() {
        return ModelRegistry.get(architecture);
    }

    public ModelOptions options() {
        return new ModelOptions(numClasses, inputShape(), normalization, seed, optimizer.updater(learningRate), weightDecay,
                normGroups, layout);
    }

    /** Builds and initializes the graph (plain BatchNorm where the architecture has BatchNorm and the recipe asks for it). */
    public ComputationGraph build() {
        return ModelRegistry.build(architecture, options());
    }
}
