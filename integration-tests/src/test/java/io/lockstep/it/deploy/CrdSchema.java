package io.lockstep.it.deploy;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Checks a manifest against a CustomResourceDefinition's OpenAPI v3 schema the way the API server's
 * structural validation does for the parts a manifest can get wrong: types (with int-or-string),
 * enums, required fields, and unknown field names where the schema lists the properties.
 */
final class CrdSchema {
    private CrdSchema() {
    }

    /** Every violation, as {@code path: problem}; empty when the manifest is valid. */
    static List<String> violations(JsonNode schema, JsonNode value) {
        List<String> problems = new ArrayList<>();
        check(schema, value, "", problems);
        return problems;
    }

    private static void check(JsonNode schema, JsonNode value, String path, List<String> problems) {
        String type = schema.path("type").asText("");
        boolean intOrString = schema.path("x-kubernetes-int-or-string").asBoolean(false);
        if (intOrString) {
            if (!value.isIntegralNumber() && !value.isTextual()) {
                problems.add(path + ": must be an integer or a string, is " + value.getNodeType());
            }
        } else if (!type.isEmpty() && !hasType(value, type)) {
            problems.add(path + ": must be " + type + ", is " + value.getNodeType() + " (" + value + ")");
            return;
        }
        if (schema.has("enum")) {
            boolean allowed = false;
            for (JsonNode option : schema.get("enum")) {
                allowed |= option.equals(value);
            }
            if (!allowed) {
                problems.add(path + ": " + value + " is not one of " + schema.get("enum"));
            }
        }
        if (value.isObject()) {
            for (JsonNode required : schema.path("required")) {
                if (!value.has(required.asText())) {
                    problems.add(path + ": required field '" + required.asText() + "' is missing");
                }
            }
            JsonNode properties = schema.get("properties");
            JsonNode additional = schema.get("additionalProperties");
            for (Iterator<Map.Entry<String, JsonNode>> fields = value.fields(); fields.hasNext(); ) {
                Map.Entry<String, JsonNode> field = fields.next();
                String fieldPath = path + "." + field.getKey();
                if (properties != null) {
                    JsonNode sub = properties.get(field.getKey());
                    if (sub == null) {
                        problems.add(fieldPath + ": unknown field (the schema has " + fieldNames(properties) + ")");
                    } else {
                        check(sub, field.getValue(), fieldPath, problems);
                    }
                } else if (additional != null && additional.isObject()) {
                    check(additional, field.getValue(), fieldPath, problems);
                }
            }
        }
        if (value.isArray() && schema.has("items")) {
            for (int i = 0; i < value.size(); i++) {
                check(schema.get("items"), value.get(i), path + "[" + i + "]", problems);
            }
        }
    }

    private static boolean hasType(JsonNode value, String type) {
        return switch (type) {
            case "object" -> value.isObject();
            case "array" -> value.isArray();
            case "string" -> value.isTextual();
            case "integer" -> value.isIntegralNumber();
            case "number" -> value.isNumber();
            case "boolean" -> value.isBoolean();
            default -> true;
        };
    }

    private static List<String> fieldNames(JsonNode properties) {
        List<String> names = new ArrayList<>();
        properties.fieldNames().forEachRemaining(names::add);
        return names;
    }
}
