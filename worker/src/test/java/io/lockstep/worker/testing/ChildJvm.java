package io.lockstep.worker.testing;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * TEST FIXTURE — starts a class's {@code main} in a child JVM, for tests that need a separate process: one
 * that can be killed or stopped, or whose process-wide state (ND4J's native thread settings) must start
 * fresh.
 */
public final class ChildJvm {
    /** Heap of a child unless the caller says otherwise: enough for a small model. */
    private static final String HEAP = "512m";

    private ChildJvm() {
    }

    /**
     * A process builder for {@code java ... mainClass arguments} with this JVM's flags, a heap of 512 MB and
     * this JVM's class path (see {@link #command}). The caller redirects its output and starts it.
     */
    public static ProcessBuilder builder(Class<?> mainClass, String... arguments) {
        return new ProcessBuilder(command(mainClass, HEAP, List.of(), List.of(arguments)));
    }

    /**
     * The command line {@code java <this JVM's flags> -Xmx<heap> <jvmOptions> -cp <this class path> mainClass
     * arguments}. The child inherits this JVM's flags so it sees the same ND4J, Aeron and module settings,
     * but not a debugger agent (it would fight over the port) or the parent's heap limit.
     *
     * @param heap       the child's maximum heap, in {@code -Xmx} syntax ({@code 256m})
     * @param jvmOptions more JVM options, e.g. system properties ({@code -Dname=value})
     */
    public static List<String> command(Class<?> mainClass, String heap, List<String> jvmOptions, List<String> arguments) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String argument : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!argument.startsWith("-agentlib:jdwp") && !argument.startsWith("-Xmx")) {
                command.add(argument);
            }
        }
        command.add("-Xmx" + heap);
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(mainClass.getName());
        command.addAll(arguments);
        return command;
    }
}
