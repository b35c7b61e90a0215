package io.lockstep.api;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The single definition of one option: its name, value type, unit, default, documentation and
 * validation. Every door reads it from here — the command-line flag {@code --NAME} (and its
 * {@code --help} line), the job-file key {@code NAME = value}, the Spark property
 * {@code spark.lockstep.NAME}, and the Java API ({@code options.with(TrainOptions.EPOCHS, 3)}).
 * Definitions are immutable; the fluent methods return a new definition.
 *
 * @param <T> the value type (Integer, Long, Double, Boolean or String)
 */
public final class OptionDef<T> {
    private final String name;
    private final Class<T> type;
    private final Function<String, T> parser;
    private final T defaultValue;
    private final Function<TrainOptions, T> derivedDefault;
    private final String unit;
    private final String doc;
    private final String label;
    private final List<Check<T>> checks;
    private final boolean recorded;
    /** The values a choice option accepts; empty for other options. */
    private final List<String> choices;

    private record Check<T>(Predicate<T> valid, String requirement) {
    }

    private OptionDef(String name, Class<T> type, Function<String, T> parser, T defaultValue,
                      Function<TrainOptions, T> derivedDefault, String unit, String doc, String label,
                      List<Check<T>> checks, boolean recorded, List<String> choices) {
        this.name = name;
        this.type = type;
        this.parser = parser;
        this.defaultValue = defaultValue;
        this.derivedDefault = derivedDefault;
        this.unit = unit;
        this.doc = doc;
        this.label = label;
        this.checks = List.copyOf(checks);
        this.recorded = recorded;
        this.choices = List.copyOf(choices);
    }

    private static <T> OptionDef<T> of(String name, Class<T> type, Function<String, T> parser, T defaultValue, String doc) {
        return new OptionDef<>(name, type, parser, defaultValue, null, null, doc, null, List.of(), true, List.of());
    }

    public static OptionDef<Integer> integer(String name, Integer defaultValue, String doc) {
        return of(name, Integer.class, text -> Integer.valueOf(text.trim()), defaultValue, doc);
    }

    public static OptionDef<Long> longInteger(String name, Long defaultValue, String doc) {
        return of(name, Long.class, text -> Long.valueOf(text.trim()), defaultValue, doc);
    }

    public static OptionDef<Double> decimal(String name, Double defaultValue, String doc) {
        return of(name, Double.class, text -> Double.valueOf(text.trim()), defaultValue, doc);
    }

    public static OptionDef<Boolean> flag(String name, String doc) {
        return of(name, Boolean.class, OptionDef::parseBoolean, false, doc);
    }

    public static OptionDef<String> text(String name, String defaultValue, String doc) {
        return of(name, String.class, String::trim, defaultValue, doc);
    }

    /** A text option whose value must be one of {@code choices} (compared case-insensitively, stored lower-case). */
    public static OptionDef<String> choice(String name, String defaultValue, String doc, String... choices) {
        List<String> allowed = Arrays.asList(choices);
        return new OptionDef<>(name, String.class, text -> text.trim().toLowerCase(Locale.ROOT), defaultValue, null, null, doc,
                null, List.of(), true, allowed)
                .check(allowed::contains, "use " + String.join(", ", allowed.subList(0, allowed.size() - 1))
                        + " or " + allowed.get(allowed.size() - 1));
    }

    private static Boolean parseBoolean(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        return switch (t) {
            case "true", "yes", "on", "1", "" -> true;
            case "false", "no", "off", "0" -> false;
            default -> throw new IllegalArgumentException("not a boolean: '" + text + "'");
        };
    }

    /** Adds a requirement; {@code requirement} completes "NAME: ..., got VALUE" in the error. Null values are not checked. */
    public OptionDef<T> check(Predicate<T> valid, String requirement) {
        List<Check<T>> more = new java.util.ArrayList<>(checks);
        more.add(new Check<>(valid, requirement));
        return new OptionDef<>(name, type, parser, defaultValue, derivedDefault, unit, doc, label, more, recorded, choices);
    }

    /** The unit of the value, shown in {@code --help} (e.g. {@code ms}, {@code steps}). */
    public OptionDef<T> unit(String unitName) {
        return new OptionDef<>(name, type, parser, defaultValue, derivedDefault, unitName, doc, label, checks, recorded, choices);
    }

    /** The placeholder shown in {@code --help} (e.g. {@code URI}). */
    public OptionDef<T> label(String placeholder) {
        return new OptionDef<>(name, type, parser, defaultValue, derivedDefault, unit, doc, placeholder, checks, recorded, choices);
    }

    /** When the option is not set, its value is computed from the other options (the doc says how). */
    public OptionDef<T> derivedFrom(Function<TrainOptions, T> derive) {
        return new OptionDef<>(name, type, parser, defaultValue, derive, unit, doc, label, checks, recorded, choices);
    }

    /** Not recorded in checkpoints and {@code summary.json} (for options about this run only, such as resuming). */
    public OptionDef<T> notRecorded() {
        return new OptionDef<>(name, type, parser, defaultValue, derivedDefault, unit, doc, label, checks, false, choices);
    }

    public OptionDef<T> atLeast(long minimum) {
        return check(v -> ((Number) v).doubleValue() >= minimum, "must be at least " + minimum);
    }

    public OptionDef<T> positive() {
        return check(v -> ((Number) v).doubleValue() > 0 && Double.isFinite(((Number) v).doubleValue()), "must be positive");
    }

    public OptionDef<T> nonNegative() {
        return check(v -> ((Number) v).doubleValue() >= 0 && Double.isFinite(((Number) v).doubleValue()), "must be >= 0");
    }

    public String name() {
        return name;
    }

    /** The command-line flag, {@code --NAME}. */
    public String flag() {
        return "--" + name;
    }

    public Class<T> type() {
        return type;
    }

    public T defaultValue() {
        return defaultValue;
    }

    public boolean hasDerivedDefault() {
        return derivedDefault != null;
    }

    T derive(TrainOptions options) {
        return derivedDefault == null ? defaultValue : derivedDefault.apply(options);
    }

    public String unit() {
        return unit;
    }

    public String doc() {
        return doc;
    }

    /** The placeholder for {@code --help}: the given label, else the unit or the type in capitals. */
    public String label() {
        if (label != null) {
            return label;
        }
        if (unit != null) {
            return unit.toUpperCase(Locale.ROOT);
        }
        return type == String.class ? "TEXT" : type == Double.class ? "NUMBER" : "N";
    }

    public boolean recorded() {
        return recorded;
    }

    /** The values a choice option accepts ({@link #choice}), in the order given; empty for other options. */
    public List<String> choices() {
        return choices;
    }

    public boolean isFlag() {
        return type == Boolean.class;
    }

    /** Parses a value given as text (flag, job file, Spark property). */
    public T parse(String text) {
        Objects.requireNonNull(text, name);
        try {
            return parser.apply(text);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag() + ": expected " + describeType() + ", got '" + text + "'", e);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(flag() + ": " + e.getMessage(), e);
        }
    }

    /** The value as text, the way the job file, checkpoints and {@code summary.json} record it. */
    public String format(Object value) {
        return value == null ? null : String.valueOf(value);
    }

    /** Problems with {@code value}, each naming the option, or an empty list. */
    List<String> problems(T value) {
        if (value == null) {
            return List.of();
        }
        List<String> problems = new java.util.ArrayList<>();
        for (Check<T> check : checks) {
            if (!check.valid().test(value)) {
                problems.add(flag() + ": " + check.requirement() + ", got " + (type == String.class ? "'" + value + "'" : value));
            }
        }
        return problems;
    }

    T cast(Object value) {
        return type.cast(value);
    }

    private String describeType() {
        return type == Integer.class || type == Long.class ? "a whole number"
                : type == Double.class ? "a number" : type.getSimpleName().toLowerCase(Locale.ROOT);
    }

    /** The {@code --help} text: doc, unit. (picocli adds the default.) */
    public String help() {
        return unit == null ? doc : doc + " [" + unit + "]";
    }

    @Override
    public String toString() {
        return flag();
    }
}
