package io.lockstep.worker.exchange;

import io.lockstep.worker.comm.AsyncCollective;
import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.WireCompression;
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
        return create(name, settings, collective, Set.of(), WireCompression.NONE);
    }

    /**
     * As {@link #create(String, ExchangeSettings, Collective)}, for a model whose {@code frozenLayers} (by
     * name) never train: strategies that can leave them out of the exchange do. The gradients of
     * {@value #ALLREDUCE} travel narrowed on the wire to {@code gradientCompression}. With
     * {@link ExchangeSettings#overlap()}, {@value #ALLREDUCE} needs the collective that
     * {@link #communication} returned.
     *
     * @throws IllegalArgumentException also when {@code gradientCompression} is not {@code NONE} for a
     *                                  strategy other than {@value #ALLREDUCE}, which would send parameters
     *                                  (average) or its own sparse encoding (threshold)
     */
    public static GradientExchange create(String name, ExchangeSettings settings, Collective collective,
                                          Set<String> frozenLayers, WireCompression gradientCompression) {
        Objects.requireNonNull(gradientCompression, "gradient compression");
        Objects.requireNonNull(name, "exchange strategy name");
        Objects.requireNonNull(settings, "exchange settings");
        String wanted = name.trim().toLowerCase(Locale.ROOT);
        if (!NAMES.contains(wanted)) {
            throw new IllegalArgumentException("unknown exchange strategy '" + name + "' (--exchange); choose one of: "
                    + String.join(", ", NAMES));
        }
        if (gradientCompression != WireCompression.NONE && !wanted.equals(ALLREDUCE)) {
            throw new IllegalArgumentException(compressionRefusal(wanted));
        }
        if (collective == null) {
            return GradientExchange.none();
        }
        return switch (wanted) {
            case ALLREDUCE -> settings.overlap() ? overlapped(collective, settings, frozenLayers, gradientCompression)
                    : new AllReduceExchange(collective, gradientCompression);
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

    private static GradientExchange overlapped(Collective collective, ExchangeSettings settings, Set<String> frozenLayers,
                                               WireCompression gradientCompression) {
        if (!(collective instanceof AsyncCollective async)) {
            throw new IllegalArgumentException("--overlap on needs the replica's collective on a communication agent: "
                    + "open it through ExchangeStrategies.communication");
        }
        return new BucketedAllReduceExchange(async, settings.bucketBytes(), true, frozenLayers, gradientCompression);
    }

    /** Why {@code --wire-compression} does not combine with {@code strategy}, naming both options and the fix. */
    public static String compressionRefusal(String strategy) {
        return "--wire-compression narrows the gradients of --exchange " + ALLREDUCE + " only; --exchange " + strategy
                + (strategy.equals(AVERAGE) ? " averages parameters, which must stay exact" : " sends its own sparse encoding")
                + ": use --wire-compression none or --exchange " + ALLREDUCE;
    }
}
