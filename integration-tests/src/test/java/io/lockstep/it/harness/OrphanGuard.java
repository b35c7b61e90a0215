package io.lockstep.it.harness;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.Optional;

/**
 * Main class wrapper for daemon JVMs started by the harness: runs the real main class and exits
 * the JVM (running its shutdown hooks, which for a Spark Worker kill its executors) as soon as the
 * test JVM that started it is gone. Without it a crashed or killed test run would leave Spark
 * daemons running on the shared machine.
 *
 * <p>Usage: {@code java ... io.lockstep.it.harness.OrphanGuard <parent pid> <main class> [args...]},
 * or as a Java agent ({@code -javaagent:<jar with this class>=<parent pid>}) for JVMs whose command
 * line Spark builds (drivers started by spark-submit).
 */
public final class OrphanGuard {
    /** Exit code when the parent disappeared (128 + SIGTERM, what a killed daemon would report). */
    static final int PARENT_GONE_EXIT_CODE = 143;

    private OrphanGuard() {
    }

    /** Agent entry point: {@code agentArgs} is the pid of the process whose death ends this JVM. */
    public static void premain(String agentArgs) {
        exitWhenGone(Long.parseLong(agentArgs.trim()), "this JVM");
    }

    private static void exitWhenGone(long parentPid, String what) {
        Optional<ProcessHandle> parent = ProcessHandle.of(parentPid);
        if (parent.isEmpty()) {
            System.err.println("OrphanGuard: parent process " + parentPid + " is already gone; not starting " + what);
            System.exit(PARENT_GONE_EXIT_CODE);
        }
        // onExit of a non-child process polls (JDK checks the start time, so a reused pid is not mistaken).
        parent.get().onExit().thenRun(() -> {
            System.err.println("OrphanGuard: parent process " + parentPid + " exited; stopping " + what);
            System.exit(PARENT_GONE_EXIT_CODE);
        });
    }

    public static void main(String[] args) throws Throwable {
        if (args.length < 2) {
            throw new IllegalArgumentException("Usage: OrphanGuard <parent pid> <main class> [args...]");
        }
        long parentPid = Long.parseLong(args[0]);
        exitWhenGone(parentPid, args[1]);
        Method main = Class.forName(args[1]).getMethod("main", String[].class);
        try {
            main.invoke(null, (Object) Arrays.copyOfRange(args, 2, args.length));
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
