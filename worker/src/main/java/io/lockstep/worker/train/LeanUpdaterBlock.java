package io.lockstep.worker.train;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.deeplearning4j.nn.updater.graph.ComputationGraphUpdater;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.regularization.Regularization;

import java.util.ArrayList;
import java.util.List;

/**
 * DL4J's updater block, creating no arrays per step while the network's arrays stay the same.
 *
 * <p>DL4J's block cuts its part of the network's gradient anew every step (3 arrays), and runs its
 * regularization loop twice a step, before and after the optimizer, cutting on each pass a parameter view
 * and a gradient view for every variable of the block, whether any regularization applies to it or not:
 * 8 arrays per variable and step, about 800 for resnet20, each with its own shape buffer and deallocator.
 * This block cuts its gradient view and the views of its regularized variables once, keeps them while it
 * is handed the same parameter and gradient memory (the network's own, every step), and skips the
 * variables a pass does not regularize. The arithmetic is DL4J's: the same optimizer and the same
 * {@link Regularization#apply} on the same elements, so training is the same to the bit.
 */
public final class LeanUpdaterBlock extends UpdaterBlock {
    private INDArray viewsOfParams;
    private INDArray viewsOfGradient;
    private final List<INDArray> paramViews = new ArrayList<>();
    private final List<INDArray> gradientViews = new ArrayList<>();
    private INDArray blockGradient;
    private int cuts;

    private LeanUpdaterBlock(UpdaterBlock block) {
        super(block.getParamOffsetStart(), block.getParamOffsetEnd(), block.getUpdaterViewOffsetStart(),
                block.getUpdaterViewOffsetEnd(), block.getLayersAndVariablesInBlock());
        setUpdaterView(block.getUpdaterView());
        setGradientView(block.getGradientView());
        setUpdaterViewRequiresInitialization(block.isUpdaterViewRequiresInitialization());
        setGradientUpdater(block.getGradientUpdater());
    }

    /**
     * Replaces the blocks of {@code graph}'s updater (created if it has none) by lean ones holding the same
     * optimizer, state and settings. A later rebuild of the updater (DL4J's {@code setLearningRate},
     * {@code setUpdater(null)}) brings DL4J's blocks back, which compute the same.
     */
    public static void install(ComputationGraph graph) {
        ComputationGraphUpdater updater = graph.getUpdater(true);
        List<UpdaterBlock> blocks = updater.getUpdaterBlocks();
        for (int i = 0; i < blocks.size(); i++) {
            if (!(blocks.get(i) instanceof LeanUpdaterBlock)) {
                blocks.set(i, new LeanUpdaterBlock(blocks.get(i)));
            }
        }
    }

    /** DL4J's {@code UpdaterBlock.update} for an external gradient, on views cut once. */
    @Override
    public void updateExternalGradient(int iteration, int epoch, INDArray fullNetworkGradientView,
                                       INDArray fullNetworkParamsArray) {
        if (getGradientUpdater() == null) {
            init();
        }
        cutViews(fullNetworkGradientView, fullNetworkParamsArray);
        if (getLayersAndVariablesInBlock().get(0).getLayer().numParams() == 0) {
            return;
        }
        regularize(Regularization.ApplyStep.BEFORE_UPDATER, iteration, epoch, true);
        getGradientUpdater().applyUpdater(blockGradient, iteration, epoch);
        regularize(Regularization.ApplyStep.POST_UPDATER, iteration, epoch, true);
    }

    @Override
    protected void applyRegularizationAllVariables(Regularization.ApplyStep applyStep, int iteration, int epoch,
                                                   boolean externalGradient, INDArray fullNetworkGradientView,
                                                   INDArray fullNetworkParamsArray) {
        if (externalGradient) {
            cutViews(fullNetworkGradientView, fullNetworkParamsArray);
        }
        regularize(applyStep, iteration, epoch, externalGradient);
    }

    /**
     * DL4J's regularization loop over the variables {@code applyStep} regularizes, on the views
     * {@link #cutViews} cut ({@code onCutViews}) or on the block's own parameter and gradient views.
     */
    private void regularize(Regularization.ApplyStep applyStep, int iteration, int epoch, boolean onCutViews) {
        List<ParamState> states = getLayersAndVariablesInBlock();
        double rate = getGradientUpdater().getConfig().hasLearningRate()
                ? getGradientUpdater().getConfig().getLearningRate(iteration, epoch) : 1.0;
        for (int i = 0; i < states.size(); i++) {
            ParamState state = states.get(i);
            if (!regularizes(state, applyStep)) {
                continue;
            }
            INDArray params = onCutViews ? paramViews.get(i) : state.getParamView();
            INDArray gradient = onCutViews ? gradientViews.get(i) : state.getGradView();
            applyRegularization(applyStep, state.getLayer(), state.getParamName(), gradient, params, iteration, epoch, rate);
        }
    }

    private static boolean regularizes(ParamState state, Regularization.ApplyStep applyStep) {
        List<Regularization> regularizations = state.getLayer().getConfig().getRegularizationByParam(state.getParamName());
        if (regularizations != null) {
            for (Regularization regularization : regularizations) {
                if (regularization.applyStep() == applyStep) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * The views DL4J's block cuts on every pass, cut again only when the memory they come from changes.
     * DL4J hands the block new array objects every step (reshapes of the network's parameters and
     * gradient), so the memory is compared. The views hold the buffer they were cut from, so its address
     * cannot be reused by another array while they are kept.
     */
    private void cutViews(INDArray gradient, INDArray params) {
        if (sameMemory(gradient, viewsOfGradient) && sameMemory(params, viewsOfParams)) {
            return;
        }
        paramViews.clear();
        gradientViews.clear();
        INDArray flatParams = params.reshape(params.length());
        INDArray flatGradient = gradient.reshape(gradient.length());
        blockGradient = flatGradient.get(NDArrayIndex.interval(getParamOffsetStart(), getParamOffsetEnd()));
        for (ParamState state : getLayersAndVariablesInBlock()) {
            boolean used = regularizes(state, Regularization.ApplyStep.BEFORE_UPDATER)
                    || regularizes(state, Regularization.ApplyStep.POST_UPDATER);
            paramViews.add(used ? flatParams.get(NDArrayIndex.interval(state.getParamOffsetStart(), state.getParamOffsetEnd())) : null);
            gradientViews.add(used ? flatGradient.get(NDArrayIndex.interval(state.getParamOffsetStart(), state.getParamOffsetEnd())) : null);
        }
        viewsOfGradient = gradient;
        viewsOfParams = params;
        cuts++;
    }

    /** How many times this block has cut its views. */
    int cuts() {
        return cuts;
    }

    /** The same elements: a dense array at the same native address, offset and length (as {@code FlatFloats} compares). */
    private static boolean sameMemory(INDArray array, INDArray cutFrom) {
        return cutFrom != null && (array == cutFrom || (array.data().address() == cutFrom.data().address()
                && array.offset() == cutFrom.offset() && array.length() == cutFrom.length()
                && array.elementWiseStride() == 1 && cutFrom.elementWiseStride() == 1));
    }
}
