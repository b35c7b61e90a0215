package io.lockstep.worker.train;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;

/**
 * Hooks the gradient exchange into DL4J's optimizer: {@code onGradientCalculation} runs after
 * backprop and before the updater turns the gradient into an update, so every replica's updater sees
 * the same exchanged gradient. Belongs to one model on one training thread.
 */
final class ExchangeListener extends BaseTrainingListener {
    private final GradientExchange exchange;
    private int epoch;
    private long step;

    ExchangeListener(GradientExchange exchange) {
        this.exchange = exchange;
    }

    void position(int epoch, long step) {
        this.epoch = epoch;
        this.step = step;
    }

    @Override
    public void onGradientCalculation(Model model) {
        exchange.exchange(model.gradient().gradient(), epoch, step);
    }
}
