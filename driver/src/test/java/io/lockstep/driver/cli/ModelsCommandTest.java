package io.lockstep.driver.cli;

import io.lockstep.driver.ConsoleCapture;
import io.lockstep.driver.Main;
import io.lockstep.models.ModelRegistry;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ModelsCommandTest {
    @Test
    void listsEveryModelWithItsCountAndWhetherItsLogitsAreTestedAgainstPyTorch() {
        ConsoleCapture.Result result = ConsoleCapture.stdout(() -> Main.run("models"));
        assertEquals(0, result.exit());
        List<String[]> rows = result.text().lines().skip(1).map(line -> line.trim().split("\\s+")).toList();
        assertEquals(ModelRegistry.names(), rows.stream().map(r -> r[0]).toList());
        for (String[] row : rows) {
            String expected = ModelRegistry.logitsMatchPyTorch(row[0]) ? "tested" : "-";
            assertEquals(expected, row[3], Arrays.toString(row));
        }
        String[] googlenet = rows.stream().filter(r -> r[0].equals("googlenet")).findFirst().orElseThrow();
        assertEquals(List.of("googlenet", "6,624,904", "3x224x224/1000", "tested"), List.of(googlenet).subList(0, 4));
        String[] resnet34 = rows.stream().filter(r -> r[0].equals("resnet34")).findFirst().orElseThrow();
        assertEquals("-", resnet34[3]);
    }
}
