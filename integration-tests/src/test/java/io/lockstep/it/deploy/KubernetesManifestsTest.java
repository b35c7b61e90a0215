package io.lockstep.it.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * deploy/kubernetes/sparkapplication.yaml against the Kubernetes Spark Operator's SparkApplication
 * schema (v1beta2, the fields it uses cut from the operator's CRD by schema/prune-crd.py), and the
 * settings a Lockstep job needs in it and in the pod templates.
 */
class KubernetesManifestsTest {
    private static final Path DIR = Path.of("..").toAbsolutePath().normalize().resolve("deploy/kubernetes");
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private static JsonNode read(String name) throws IOException {
        return YAML.readTree(DIR.resolve(name).toFile());
    }

    @Test
    void theSparkApplicationIsValidAgainstTheOperatorsSchema() throws IOException {
        JsonNode manifest = read("sparkapplication.yaml");
        assertEquals("sparkoperator.k8s.io/v1beta2", manifest.get("apiVersion").asText());
        assertEquals("SparkApplication", manifest.get("kind").asText());
        List<String> violations = CrdSchema.violations(read("schema/sparkapplication-v1beta2.schema.yaml"), manifest);
        assertEquals(List.of(), violations);
    }

    @Test
    void theSchemaCheckRefusesAMisspeltFieldAWrongTypeAndAMissingRequiredField() throws IOException {
        ObjectNode manifest = (ObjectNode) read("sparkapplication.yaml");
        ObjectNode executor = (ObjectNode) manifest.get("spec").get("executor");
        executor.put("instances", "two");
        executor.set("gpus", executor.get("gpu"));
        ((ObjectNode) manifest.get("spec")).remove("sparkVersion");
        ((ObjectNode) manifest.get("spec")).put("mode", "local");
        List<String> violations = CrdSchema.violations(read("schema/sparkapplication-v1beta2.schema.yaml"), manifest);
        List<String> expectedStarts = List.of(".spec: required field 'sparkVersion' is missing",
                ".spec.executor.instances: must be integer", ".spec.executor.gpus: unknown field", ".spec.mode: \"local\" is not one of");
        for (String start : expectedStarts) {
            assertTrue(violations.stream().anyMatch(v -> v.startsWith(start)), start + " in " + violations);
        }
        assertEquals(4, violations.size(), violations.toString());
    }

    @Test
    void theSparkApplicationGangSchedulesOneGpuPerReplicaWithoutDynamicAllocation() throws IOException {
        JsonNode spec = read("sparkapplication.yaml").get("spec");
        assertTrue(List.of("volcano", "yunikorn").contains(spec.get("batchScheduler").asText()), "gang scheduling");
        assertEquals(false, spec.get("dynamicAllocation").get("enabled").asBoolean(), "barrier stages refuse dynamic allocation");
        List<String> arguments = new ArrayList<>();
        spec.get("arguments").forEach(a -> arguments.add(a.asText()));
        int replicas = Integer.parseInt(arguments.get(arguments.indexOf("--replicas") + 1));
        JsonNode executor = spec.get("executor");
        assertEquals(replicas, executor.get("instances").asInt() * executor.get("cores").asInt()
                / spec.get("sparkConf").get("spark.task.cpus").asInt(), "one task slot per replica");
        assertEquals("nvidia.com/gpu", executor.get("gpu").get("name").asText());
        assertEquals(1, executor.get("gpu").get("quantity").asInt());
        JsonNode conf = spec.get("sparkConf");
        assertEquals("1", conf.get("spark.executor.resource.gpu.amount").asText(), "Spark assigns the pod's GPU to a task");
        assertTrue(conf.get("spark.executor.resource.gpu.discoveryScript").asText().endsWith("getGpusResources.sh"));
        assertEquals("1.0", conf.get("spark.scheduler.minRegisteredResourcesRatio").asText());
        for (String role : List.of("driver", "executor")) {
            String options = spec.get(role).get("javaOptions").asText();
            assertTrue(options.contains("--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED"), role + ": Aeron's export");
            assertTrue(options.contains("-Dorg.eclipse.deeplearning4j.helpers.disable=false"), role + ": OneDNN helpers on");
        }
    }

    @Test
    void theExecutorTemplateGivesAeronSharedMemoryAndToleratesGpuNodes() throws IOException {
        JsonNode pod = read("executor-pod-template.yaml");
        assertEquals("Pod", pod.get("kind").asText());
        JsonNode spec = pod.get("spec");
        assertEquals("Memory", spec.get("volumes").get(0).get("emptyDir").get("medium").asText());
        assertEquals("/dev/shm", spec.get("containers").get(0).get("volumeMounts").get(0).get("mountPath").asText());
        assertEquals("nvidia.com/gpu", spec.get("tolerations").get(0).get("key").asText());
        assertEquals("Pod", read("driver-pod-template.yaml").get("kind").asText());
    }
}
