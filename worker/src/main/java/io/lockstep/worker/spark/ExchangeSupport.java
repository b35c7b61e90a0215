package io.lockstep.worker.spark;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.exchange.ExchangeStrategies;
import io.lockstep.worker.train.GradientExchange;

/** Builds the stage's exchange strategy ({@code --exchange}); a single replica exchanges nothing. */
final class ExchangeSupport {
    private ExchangeSupport() {
    }

    static GradientExchange create(StageSpec spec, Collective collective) {
        return ExchangeStrategies.create(spec.exchange(), spec.exchangeSettings(), collective,
                spec.collectiveSettings().gradientCompression());
    }
}
