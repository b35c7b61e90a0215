package io.lockstep.driver;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;
import java.util.function.IntSupplier;

/** Runs a command with the console stream it reports on captured, for tests that read its words back. */
public final class ConsoleCapture {
    /** The command's exit code and everything it printed to the captured stream. */
    public record Result(int exit, String text) {
    }

    private ConsoleCapture() {
    }

    public static Result stdout(IntSupplier command) {
        return capture(command, System.out, System::setOut);
    }

    public static Result stderr(IntSupplier command) {
        return capture(command, System.err, System::setErr);
    }

    private static Result capture(IntSupplier command, PrintStream original, Consumer<PrintStream> install) {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        int exit;
        try {
            install.accept(new PrintStream(captured, true, StandardCharsets.UTF_8));
            exit = command.getAsInt();
        } finally {
            install.accept(original);
        }
        return new Result(exit, captured.toString(StandardCharsets.UTF_8));
    }
}
