package io.lockstep.worker.exchange;

import io.lockstep.worker.comm.AsyncCollective;
import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.train.AllReduceExchange;
import io.lockstep.worker.train.BucketedAllReduceExchange;
import io.lockstep.worker.train.GradientExchange;

import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * The {@code --exchange} strategies by name: {@value #ALLREDUCE} (default, synchronous gradient
 * averaging), {@value #AVERAGE} (parameter averaging / local SGD) and {@value #THRESHOLD}
 * (threshold-encoded sparse gradients with residuals). Stateless and thread-safe.
 */
public final class ExchangeStrategies {
    public static final String ALLREDUCE = "allreduce";
    public static final String AVERAGE = "average";
    public static final String THRESHOLD = "threshold";
    private static final List<String> NAMES = List.of(ALLREDUCE, AVERAGE, THRESHOLD);

    private ExchangeStrategies() {
    }

    /** Every strategy name, the default first. */
    public static List<String> names() {
        return NAMES;
    }

    /**
     * Creates the strategy {@code name} (case-insensitive, surrounding blanks ignored) for one replica.
     * The caller owns the result and closes it with the collective.
     *
     * @param collective the replica's group, or {@code null} for a single replica: every strategy then
     *                   exchanges nothing ({@link GradientExchange#none()}), since a lone replica's
     *                   gradient is already the global one and compressing it would only lose accuracy
     * @throws IllegalArgumentException for an unknown name; the message lists every valid name
     */
    public static GradientExchange create(String name, ExchangeSettings settings, Collective collective) {
        return create(name, settings, collective, Set.of());
    }

    /**
     * As {@link #create(String, ExchangeSettings, Collective)}, for a model whose {@code frozenLayers} (by
     * name) never train: strategies that can leave them out of the exchange do. With
     * {@link ExchangeSettings#overlap()}, {@value #ALLREDUCE} needs the collective that
     * {@link #communication} returned.
     */
    public static GradientExchange create(String name, ExchangeSettings settings, Collective collective,
                                          Set<String> frozenLayers) {
        Objects.requireNonNull(name, "exchange strategy name");
        Objects.requireNonNull(settings, "exchange settings");
        String wanted = name.trim().toLowerCase(Locale.ROOT);
        if (!NAMES.contains(wanted)) {
            throw new IllegalArgumentException("unknown exchange strategy '" + name + "' (--exchange); choose one of: "
                    + String.join(", ", NAMES));
        }
        if (collective == null) {
            return GradientExchange.none();
        }
        return switch (wanted) {
            case ALLREDUCE -> settings.overlap() ? overlapped(collective, settings, frozenLayers)
                    : new AllReduceExchange(collective);
            case AVERAGE -> new ParameterAveragingExchange(collective, settings);
            case THRESHOLD -> new ThresholdExchange(collective, settings);
            default -> throw new AssertionError("strategy " + wanted + " listed but not built");
        };
    }

    /**
     * The collective a replica's strategy runs on: {@code opened} itself, or, when {@value #ALLREDUCE}
     * overlaps gradient buckets with backward, {@code opened} driven by a communication agent (an
     * {@link AsyncCollective} that owns it from now on; closing it closes {@code opened}).
     *
     * @param stallMs how long a wait tolerates an agent that makes no progress (above the collective's
     *                own operation deadline)
     */
    public static Collective communication(String name, ExchangeSettings settings, Collective opened, long stallMs) {
        if (opened == null || !settings.overlap() || !ALLREDUCE.equals(name.trim().toLowerCase(Locale.ROOT))) {
            return opened;
        }
        return new AsyncCollective(opened, stallMs, "lockstep-comm-r" + opened.rank());
    }

    private static GradientExchange overlapped(Collective collective, ExchangeSettings settings, Set<String> frozenLayers) {
        if (!(collective instanceof AsyncCollective async)) {
            throw new IllegalArgumentException("--overlap on needs the replica's collective on a communication agent: "
                    + "open it through ExchangeStrategies.communication");
        }
        return new BucketedAllReduceExchange(async, settings.bucketBytes(), true, frozenLayers);
    }
}
