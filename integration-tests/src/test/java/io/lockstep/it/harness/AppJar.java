package io.lockstep.it.harness;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;

/** Packs a classes directory (e.g. {@code target/test-classes}) into a jar that spark-submit can ship. */
public final class AppJar {
    private AppJar() {
    }

    /**
     * The jar holding {@code anyClass}: the jar it was loaded from, or a new jar at {@code jarFile}
     * with every file of the classes directory it was loaded from.
     */
    public static Path containing(Class<?> anyClass, Path jarFile) {
        Path source;
        try {
            source = Path.of(anyClass.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException("Cannot locate the classes of " + anyClass.getName(), e);
        }
        if (Files.isRegularFile(source)) {
            return source;
        }
        return pack(source, jarFile);
    }

    /** Writes every file under {@code classesDir} into {@code jarFile}, with a manifest. */
    public static Path pack(Path classesDir, Path jarFile) {
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        try {
            Files.createDirectories(jarFile.toAbsolutePath().getParent());
            List<Path> files;
            try (Stream<Path> walk = Files.walk(classesDir)) {
                files = walk.filter(Files::isRegularFile).sorted().toList();
            }
            try (OutputStream out = Files.newOutputStream(jarFile); JarOutputStream jar = new JarOutputStream(out, manifest)) {
                for (Path file : files) {
                    String entryName = classesDir.relativize(file).toString().replace('\\', '/');
                    if (entryName.equals("META-INF/MANIFEST.MF")) {
                        continue;
                    }
                    jar.putNextEntry(new JarEntry(entryName));
                    Files.copy(file, jar);
                    jar.closeEntry();
                }
            }
            return jarFile.toAbsolutePath();
        } catch (IOException e) {
            throw new UncheckedIOException("Could not pack " + classesDir + " into " + jarFile, e);
        }
    }
}
