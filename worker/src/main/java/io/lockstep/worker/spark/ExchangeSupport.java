package io.lockstep.worker.spark;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.exchange.ExchangeStrategies;
import io.lockstep.worker.train.GradientExchange;

/** Builds the stage's exchange strategy ({@code --exchange}); a single replica exchanges nothing. */
final class ExchangeSupport {
    private ExchangeSupport() {
    }

    static GradientExchange create(StageSpec spec, Collective collective, java.util.Set<String> frozenLayers) {
        return ExchangeStrategies.create(spec.exchange(), spec.exchangeSettings(), collective, frozenLayers,
                spec.collectiveSettings().gradientCompression());
    }

    /** The opened collective, on a communication agent when the strategy overlaps with backward. */
    static Collective communication(StageSpec spec, Collective opened) {
        // The agent's own deadline only catches a stuck agent: the collective's deadline reports first.
        return ExchangeStrategies.communication(spec.exchange(), spec.exchangeSettings(), opened,
                spec.collectiveTimeoutMs() + STALL_MARGIN_MS);
    }

    private static final long STALL_MARGIN_MS = 30_000;
}
