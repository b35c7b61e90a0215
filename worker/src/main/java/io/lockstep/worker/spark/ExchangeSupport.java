package io.lockstep.worker.spark;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.train.AllReduceExchange;
import io.lockstep.worker.train.GradientExchange;

/** Builds the stage's exchange strategy. PENDING: average and threshold strategies. */
final class ExchangeSupport {
    private ExchangeSupport() {
    }

    static GradientExchange create(StageSpec spec, Collective collective) {
        if (collective == null) {
            return GradientExchange.none();
        }
        return new AllReduceExchange(collective);
    }
}
