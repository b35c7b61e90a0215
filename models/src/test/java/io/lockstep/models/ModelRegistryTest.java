package io.lockstep.models;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelRegistryTest {
    private static final List<String> EXPECTED = List.of(
            "lenet5", "simplecnn", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
            "alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
            "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "googlenet",
            "inception_v3", "densenet121", "densenet161", "densenet169", "densenet201", "densenet_bc40",
            "densenet_bc100", "vit_small", "vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14");

    @Test
    void listsEveryModelInAStableOrder() {
        assertEquals(EXPECTED, ModelRegistry.names());
        assertEquals(EXPECTED, ModelRegistry.all().stream().map(Architecture::name).toList());
    }

    @Test
    void findsModelsIgnoringCaseAndBlanks() {
        assertSame(ModelRegistry.all().get(2), ModelRegistry.get(" ResNet20 "));
        assertEquals("vgg16_bn", ModelRegistry.get("VGG16_BN").name());
    }

    @Test
    void unknownNameListsEveryValidName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelRegistry.get("resnet21"));
        assertTrue(e.getMessage().startsWith("unknown model 'resnet21'"), e.getMessage());
        for (String name : EXPECTED) {
            assertTrue(e.getMessage().contains(name), name + " missing from: " + e.getMessage());
        }
    }

    @Test
    void defaultsDescribeTheReferenceSetting() {
        for (Architecture a : ModelRegistry.all()) {
            String expectedInput = switch (a.name()) {
                case "lenet5" -> "1x28x28";
                case "simplecnn" -> "3x64x64";
                case "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "densenet_bc40", "densenet_bc100", "vit_small" -> "3x32x32";
                case "inception_v3" -> "3x299x299";
                default -> "3x224x224";
            };
            assertEquals(expectedInput.matches("3x(224x224|299x299)") ? 1000 : 10, a.defaultClasses(), a.name());
            assertEquals(expectedInput, a.defaultInput().toString(), a.name());
            assertTrue(!a.description().isBlank(), a.name());
        }
    }
}
