package io.lockstep.api;

import io.lockstep.driver.ConsoleCapture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import java.io.ByteArrayOutputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The migration guide's example compiles against the API as it is and trains to a useful accuracy. */
class MigrationExampleTest {
    private static final Path SOURCE = Path.of("..", "examples", "migration", "TrainOnLockstep.java");

    @Test
    void theExampleCompilesAndTrains(@TempDir Path dir) throws Exception {
        JavaCompiler compiler = ToolProvider.getSystemJavaCompiler();
        ByteArrayOutputStream diagnostics = new ByteArrayOutputStream();
        int compiled = compiler.run(null, diagnostics, diagnostics, "-d", dir.resolve("classes").toString(),
                "-classpath", System.getProperty("java.class.path"), SOURCE.toString());
        assertEquals(0, compiled, "javac " + SOURCE + ":\n" + diagnostics);

        try (URLClassLoader loader = new URLClassLoader(new URL[]{dir.resolve("classes").toUri().toURL()},
                getClass().getClassLoader())) {
            Class<?> example = loader.loadClass("example.TrainOnLockstep");
            ConsoleCapture.Result run = ConsoleCapture.stdout(() -> {
                try {
                    example.getMethod("main", String[].class).invoke(null,
                            (Object) new String[]{"local[2]", dir.resolve("out").toString()});
                    return 0;
                } catch (ReflectiveOperationException e) {
                    throw new IllegalStateException(e);
                }
            });
            String output = run.text();
            assertTrue(output.contains("epoch 3:"), output);
            Matcher accuracy = Pattern.compile("accuracy (\\d\\.\\d+); model in").matcher(output);
            assertTrue(accuracy.find(), output);
            assertTrue(Double.parseDouble(accuracy.group(1)) > 0.8, "the example learns its problem: " + output);
            assertTrue(Files.exists(dir.resolve("out").resolve("model.zip")), "model.zip written");
        }
    }
}
