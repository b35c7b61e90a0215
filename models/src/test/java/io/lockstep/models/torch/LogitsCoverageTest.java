package io.lockstep.models.torch;

import io.lockstep.models.ModelRegistry;
import org.junit.jupiter.api.Test;

import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** What {@code lockstep models} claims about PyTorch equality is what the logits tests check, no more, no less. */
class LogitsCoverageTest {
    @Test
    void theRegistryClaimsLogitsEqualityExactlyForTheComparedModels() {
        Set<String> compared = new TreeSet<>();
        Stream.concat(ConvNetLogitsTest.CASES.stream(), VisionTransformerLogitsTest.CASES.stream())
                .forEach(c -> compared.add(ModelRegistry.get(c.model()).name()));
        assertEquals(compared, new TreeSet<>(ModelRegistry.logitsMatchingPyTorch()));
    }
}
