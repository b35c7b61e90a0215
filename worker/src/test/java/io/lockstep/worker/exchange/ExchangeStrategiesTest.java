package io.lockstep.worker.exchange;

import io.lockstep.worker.testing.ThreadCollectives;
import io.lockstep.worker.train.AllReduceExchange;
import io.lockstep.worker.train.GradientExchange;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExchangeStrategiesTest {

    @Test
    void namesAreListedWithTheDefaultFirst() {
        assertEquals(List.of("allreduce", "average", "threshold"), ExchangeStrategies.names());
    }

    @Test
    void eachNameBuildsItsStrategyIgnoringCaseAndBlanks() {
        var collective = ThreadCollectives.create(2, 1_000).rank(0);
        ExchangeSettings settings = ExchangeSettings.defaults();
        assertInstanceOf(AllReduceExchange.class, ExchangeStrategies.create("allreduce", settings, collective));
        assertInstanceOf(ParameterAveragingExchange.class, ExchangeStrategies.create(" Average ", settings, collective));
        assertInstanceOf(ThresholdExchange.class, ExchangeStrategies.create("THRESHOLD", settings, collective));
    }

    @Test
    void unknownNameListsTheValidOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ExchangeStrategies.create("gossip", ExchangeSettings.defaults(), null));
        assertTrue(e.getMessage().contains("'gossip'"), e.getMessage());
        assertTrue(e.getMessage().contains("allreduce, average, threshold"), e.getMessage());
        assertTrue(e.getMessage().contains("--exchange"), e.getMessage());
    }

    @Test
    void aSingleReplicaExchangesNothing() {
        for (String name : ExchangeStrategies.names()) {
            GradientExchange exchange = ExchangeStrategies.create(name, ExchangeSettings.defaults(), null);
            float[] values = {0.5f, -2f, 1e-9f};
            INDArray gradient = Nd4j.create(values, new long[] {1, 3});
            exchange.exchange(gradient, 0, 0);
            assertArrayEquals(values, gradient.toFloatVector(), name);
            assertEquals(0, exchange.lastBytesSent(), name);
        }
    }

    @Test
    void settingsDefaultsAreTheDocumentedOnes() {
        ExchangeSettings d = ExchangeSettings.defaults();
        assertEquals(4, d.averageEverySteps());
        assertEquals(0, d.averageWarmupSteps());
        assertEquals(1e-3, d.thresholdInitial());
        assertEquals(1e-3, d.thresholdMinSentFraction());
        assertEquals(1e-2, d.thresholdMaxSentFraction());
    }

    @Test
    void invalidSettingsAreAllReportedInOneMessageNamingTheFlags() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new ExchangeSettings(0, -1, 0, 0.5, 0.1));
        String message = e.getMessage();
        for (String flag : List.of("--average-every", "--average-warmup-steps", "--threshold-initial",
                "--threshold-min-sent-fraction (0.5) must not exceed --threshold-max-sent-fraction (0.1)")) {
            assertTrue(message.contains(flag), flag + " missing from: " + message);
        }
        assertThrows(IllegalArgumentException.class, () -> ExchangeSettings.defaults().withThresholdSentFraction(Double.NaN, 0.1));
        assertThrows(IllegalArgumentException.class, () -> ExchangeSettings.defaults().withThresholdSentFraction(0.001, 1.5));
        assertThrows(IllegalArgumentException.class, () -> ExchangeSettings.defaults().withThresholdInitial(Double.POSITIVE_INFINITY));
    }

    @Test
    void settingsSurviveJavaSerialization() throws Exception {
        ExchangeSettings settings = ExchangeSettings.defaults().withAverageEverySteps(16).withAverageWarmupSteps(100)
                .withThresholdInitial(0.5).withThresholdSentFraction(1e-4, 5e-2);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(settings);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            assertEquals(settings, in.readObject());
        }
    }
}
