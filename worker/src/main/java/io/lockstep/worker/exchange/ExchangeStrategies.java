package io.lockstep.worker.exchange;

import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.WireCompression;
import io.lockstep.worker.train.AllReduceExchange;
import io.lockstep.worker.train.GradientExchange;

import java.util.List;
import java.util.Locale;
import java.util.Objects;

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
        return create(name, settings, collective, WireCompression.NONE);
    }

    /**
     * Like {@link #create(String, ExchangeSettings, Collective)}, with the gradients of {@value #ALLREDUCE}
     * narrowed on the wire to {@code gradientCompression}.
     *
     * @throws IllegalArgumentException also when {@code gradientCompression} is not {@code NONE} for a
     *                                  strategy other than {@value #ALLREDUCE}, which would send parameters
     *                                  (average) or its own sparse encoding (threshold)
     */
    public static GradientExchange create(String name, ExchangeSettings settings, Collective collective,
                                          WireCompression gradientCompression) {
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
            case ALLREDUCE -> new AllReduceExchange(collective, gradientCompression);
            case AVERAGE -> new ParameterAveragingExchange(collective, settings);
            case THRESHOLD -> new ThresholdExchange(collective, settings);
            default -> throw new AssertionError("strategy " + wanted + " listed but not built");
        };
    }

    /** Why {@code --wire-compression} does not combine with {@code strategy}, naming both options and the fix. */
    public static String compressionRefusal(String strategy) {
        return "--wire-compression narrows the gradients of --exchange " + ALLREDUCE + " only; --exchange " + strategy
                + (strategy.equals(AVERAGE) ? " averages parameters, which must stay exact" : " sends its own sparse encoding")
                + ": use --wire-compression none or --exchange " + ALLREDUCE;
    }
}
