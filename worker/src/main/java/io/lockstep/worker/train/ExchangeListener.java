package io.lockstep.worker.train;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Hooks the gradient exchange into DL4J's optimizer: {@code onGradientCalculation} runs after
 * backprop and before the updater turns the gradient into an update, so every replica's updater sees
 * the same exchanged gradient. It also checks that gradient for NaN/infinity: since it is identical
 * on every replica, so is the decision. Belongs to one model on one training thread.
 */
final class ExchangeListener extends BaseTrainingListener {
    private final GradientExchange exchange;
    private final NonFinitePolicy nonFinitePolicy;
    private int epoch;
    private long step;
    private boolean skippedThisStep;

    ExchangeListener(GradientExchange exchange, NonFinitePolicy nonFinitePolicy) {
        this.exchange = exchange;
        this.nonFinitePolicy = nonFinitePolicy;
    }

    void position(int epoch, long step) {
        this.epoch = epoch;
        this.step = step;
        this.skippedThisStep = false;
    }

    boolean skippedThisStep() {
        return skippedThisStep;
    }

    @Override
    public void onGradientCalculation(Model model) {
        INDArray gradient = model.gradient().gradient();
        exchange.exchange(gradient, epoch, step);
        double sum = gradient.sumNumber().doubleValue();
        if (!Double.isFinite(sum)) {
            if (nonFinitePolicy == NonFinitePolicy.SKIP_STEP) {
                gradient.assign(0);
                skippedThisStep = true;
            } else {
                throw new TrainingDivergedException("the gradient became non-finite at epoch " + (epoch + 1) + ", step "
                        + (step + 1) + " (loss on this replica " + model.score() + "); lower the learning rate, check the"
                        + " input data, or use --on-nan skip-step", epoch, step);
            }
        }
    }
}
