package io.lockstep.driver.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.driver.Main;
import io.lockstep.driver.report.RunOutput;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two replicas train on an image folder (PNG and JPEG, mixed sizes, grayscale and color, one corrupt
 * file skipped) and learn a generated pattern: which side of the image holds a bright bar.
 */
class ImageFolderTrainingTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static void writeImage(Path file, int size, boolean barOnLeft, boolean color, Random random) throws IOException {
        BufferedImage image = new BufferedImage(size, size, color ? BufferedImage.TYPE_INT_RGB : BufferedImage.TYPE_BYTE_GRAY);
        Graphics2D g = image.createGraphics();
        g.setColor(new Color(random.nextInt(60), random.nextInt(60), random.nextInt(60)));
        g.fillRect(0, 0, size, size);
        g.setColor(color ? new Color(200 + random.nextInt(55), 150 + random.nextInt(100), 200) : Color.WHITE);
        int width = size / 4;
        int x = barOnLeft ? random.nextInt(size / 4) : size / 2 + random.nextInt(size / 4);
        g.fillRect(x, random.nextInt(size / 4), width, size / 2);
        g.dispose();
        Files.createDirectories(file.getParent());
        String format = file.toString().endsWith(".png") ? "png" : "jpg";
        if (!ImageIO.write(image, format, file.toFile())) {
            throw new IOException("no ImageIO writer for " + format);
        }
    }

    @Test
    void twoReplicasLearnAGeneratedPatternFromAnImageFolder(@TempDir Path dir) throws Exception {
        Path root = dir.resolve("bars");
        Random random = new Random(17);
        for (String split : new String[]{"train", "val"}) {
            int count = split.equals("train") ? 160 : 40;
            for (int i = 0; i < count; i++) {
                boolean left = i % 2 == 0;
                String name = (left ? "left" : "right") + "/img" + i + (i % 3 == 0 ? ".jpg" : ".png");
                writeImage(root.resolve(split).resolve(name), 24 + random.nextInt(24), left, i % 4 == 0, random);
            }
        }
        Files.write(root.resolve("train/left/corrupt.png"), new byte[]{(byte) 0x89, 'P', 'N', 'G', 1, 2, 3});

        Path out = dir.resolve("out");
        int code = Main.run("train", "--model", "lenet5", "--data", root.toString(), "--image-size", "28", "--channels", "1",
                "--replicas", "2", "--batch-size", "8", "--epochs", "4", "--lr", "0.01", "--bad-records", "skip",
                "--out", out.toString());
        assertEquals(0, code);
        JsonNode summary = JSON.readTree(out.resolve(RunOutput.SUMMARY).toFile());
        double accuracy = summary.get("test_accuracy").asDouble();
        assertTrue(accuracy >= 0.8, "two classes, chance is 0.5; got " + accuracy);
        assertTrue(summary.get("skipped_records").toString().contains("corrupt.png"), summary.get("skipped_records").toString());
    }
}
