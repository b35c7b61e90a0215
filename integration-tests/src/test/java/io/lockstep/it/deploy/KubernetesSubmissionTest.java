package io.lockstep.it.deploy;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.dsl.HttpMethod;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.lockstep.it.harness.SparkHome;
import io.lockstep.it.harness.SparkSubmitter;
import io.lockstep.it.harness.SubmitResult;
import io.lockstep.it.harness.TestRuntime;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.StringReader;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code spark-submit --master k8s://… --deploy-mode cluster} with deploy/kubernetes/spark-defaults.conf,
 * run by Spark's own Kubernetes submission client against an in-process Kubernetes API (fabric8's mock
 * server, which stores what it is sent): the driver pod and configuration it creates are what a
 * Lockstep job needs. No pod runs here: executor pods are created by the driver once it runs in the
 * cluster, so for executors the test checks what the driver receives (their template and GPU settings).
 */
class KubernetesSubmissionTest {
    private static final Path DEPLOY = Path.of("..").toAbsolutePath().normalize().resolve("deploy/kubernetes");
    private static final String IMAGE = "registry.example.com/lockstep:0.1.0";

    private KubernetesMockServer server;
    private KubernetesClient client;

    @BeforeEach
    void startApiServer() {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), new ApplyCreates(), false);
        server.init(InetAddress.getLoopbackAddress(), 0);
        client = server.createClient();
    }

    @AfterEach
    void stopApiServer() {
        client.close();
        server.destroy();
    }

    @Test
    void sparkSubmitCreatesADriverPodAndConfigurationFitForALockstepJob() throws IOException {
        Path work = TestRuntime.newWorkDir("k8s-submit");
        SparkHome home = SparkHome.create(work.resolve("spark-home"));
        SubmitResult result = SparkSubmitter.using(home, "k8s://http://127.0.0.1:" + server.getPort(), work.resolve("submissions"))
                .deployMode("cluster").name("lockstep-resnet20")
                .mainClass("io.lockstep.driver.Main").appResource("local:///opt/lockstep/lockstep.jar")
                .propertiesFile(DEPLOY.resolve("spark-defaults.conf"))
                .conf("spark.kubernetes.driver.podTemplateFile", DEPLOY.resolve("driver-pod-template.yaml").toString())
                .conf("spark.kubernetes.executor.podTemplateFile", DEPLOY.resolve("executor-pod-template.yaml").toString())
                // Nothing runs the pod: do not wait for it to finish.
                .conf("spark.kubernetes.submission.waitAppCompletion", "false")
                .args("train", "--model", "resnet20", "--data", "s3a://datasets/fashion-mnist", "--out", "s3a://runs/r20",
                        "--replicas", "2")
                .run(Duration.ofMinutes(3));
        assertEquals(0, result.exitCode(), result::describe);

        List<Pod> pods = client.pods().inNamespace("lockstep").list().getItems();
        assertEquals(1, pods.size(), "one driver pod: " + pods);
        Pod driver = pods.get(0);
        Container container = driver.getSpec().getContainers().get(0);
        assertEquals(IMAGE, container.getImage());
        assertEquals("spark", driver.getSpec().getServiceAccountName());
        assertEquals("driver", driver.getMetadata().getLabels().get("app.kubernetes.io/component"), "the driver template was applied");
        assertEquals("1", env(container).get("OMP_NUM_THREADS"), "the driver template's environment");
        List<String> args = container.getArgs();
        assertEquals(List.of("--class", "io.lockstep.driver.Main", "local:///opt/lockstep/lockstep.jar", "train"),
                args.subList(args.indexOf("--class"), args.indexOf("--class") + 4), "container args " + args);
        assertTrue(args.containsAll(List.of("--replicas", "2")), "the job's options reach the driver: " + args);

        Quantity memoryRequest = container.getResources().getRequests().get("memory");
        assertEquals(memoryRequest, container.getResources().getLimits().get("memory"), "memory limit equals request");
        assertTrue(Quantity.getAmountInBytes(memoryRequest).longValue() >= 4L << 30, "spark.driver.memory 4g plus overhead: " + memoryRequest);
        assertEquals(new Quantity("1"), container.getResources().getRequests().get("cpu"));
        Volume localDir = driver.getSpec().getVolumes().stream().filter(v -> v.getName().startsWith("spark-local-dir")).findFirst()
                .orElseThrow(() -> new AssertionError("no Spark local dir volume in " + driver.getSpec().getVolumes()));
        assertEquals("Memory", localDir.getEmptyDir().getMedium(), "local dirs (and Aeron's files) in memory");

        // Spark fences the application's pods with a NetworkPolicy; Aeron's UDP between executor pods must pass it.
        var policies = client.network().networkPolicies().inNamespace("lockstep").list().getItems();
        assertEquals(1, policies.size(), "Spark's network policy for the application: " + policies);
        for (var policy : policies) {
            for (var rule : policy.getSpec().getIngress()) {
                assertTrue(rule.getPorts() == null || rule.getPorts().isEmpty(),
                        "ingress from the application's own pods on every port and protocol: " + policy.getSpec());
            }
        }

        Properties sparkConf = new Properties();
        String executorTemplate = null;
        for (ConfigMap map : client.configMaps().inNamespace("lockstep").list().getItems()) {
            if (map.getData() == null) {
                continue;
            }
            if (map.getData().containsKey("spark.properties")) {
                sparkConf.load(new StringReader(map.getData().get("spark.properties")));
            }
            for (Map.Entry<String, String> file : map.getData().entrySet()) {
                if (file.getValue().contains("spark-kubernetes-executor")) {
                    executorTemplate = file.getValue();
                }
            }
        }
        assertEquals("false", sparkConf.getProperty("spark.dynamicAllocation.enabled"), sparkConf.toString());
        assertEquals("1.0", sparkConf.getProperty("spark.scheduler.minRegisteredResourcesRatio"));
        assertEquals("2", sparkConf.getProperty("spark.executor.instances"));
        for (String role : List.of("driver", "executor")) {
            String options = sparkConf.getProperty("spark." + role + ".extraJavaOptions", "");
            assertTrue(options.contains("--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED")
                    && options.contains("-Dorg.eclipse.deeplearning4j.helpers.disable=false"), role + " JVM options: " + options);
        }
        assertEquals("1", sparkConf.getProperty("spark.executor.resource.gpu.amount"), "executor pods get a GPU limit");
        assertEquals("nvidia.com", sparkConf.getProperty("spark.executor.resource.gpu.vendor"));
        assertTrue(executorTemplate != null && executorTemplate.contains("nvidia.com/gpu") && executorTemplate.contains("/dev/shm"),
                "the executor template travels to the driver: " + executorTemplate);
    }

    /**
     * Spark creates the driver's service and config maps by server-side apply (a PATCH), which a real API
     * server answers by creating them; fabric8's CRUD mock answers 404 for a resource that does not exist
     * yet, so an apply of a new resource is turned into its create here.
     */
    private static final class ApplyCreates extends KubernetesCrudDispatcher {
        @Override
        public MockResponse handlePatch(RecordedRequest request) {
            String contentType = request.getHeader("Content-Type");
            if (contentType != null && contentType.contains("apply-patch")) {
                String path = request.getPath();
                String item = path.contains("?") ? path.substring(0, path.indexOf('?')) : path;
                if (handleGet(item).code() == 404) {
                    return handleCreate(new RecordedRequest(request.getHttpVersion(), HttpMethod.POST,
                            item.substring(0, item.lastIndexOf('/')), request.getHeaders(), request.getBody()));
                }
            }
            return super.handlePatch(request);
        }
    }

    private static Map<String, String> env(Container container) {
        return container.getEnv().stream().filter(e -> e.getValue() != null)
                .collect(Collectors.toMap(EnvVar::getName, EnvVar::getValue, (a, b) -> b));
    }
}
