package io.lockstep.api;

import java.util.List;

/** Options that cannot run: every problem at once, each naming the option and the fix. */
public class InvalidOptionsException extends IllegalArgumentException {
    private final List<String> problems;

    public InvalidOptionsException(List<String> problems) {
        super("invalid options:\n  " + String.join("\n  ", problems));
        this.problems = List.copyOf(problems);
    }

    public List<String> problems() {
        return problems;
    }
}
