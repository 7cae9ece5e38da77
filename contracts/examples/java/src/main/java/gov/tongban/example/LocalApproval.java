package gov.tongban.example;

import java.io.IOException;
import java.io.Reader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * A locality's own approval system, written from Tongban's contracts/ alone.
 *
 * <pre>
 * --check-vectors contracts/vectors/signatures.json
 *     recompute every vector's bytes, verify its signature, check that one changed byte fails
 *     and that what the vectors call not signable is refused
 * --consumer-config FILE --locality 340100 --approval-url URL --keys-url URL
 *     [--group approval-340100.x] [--decide TB...] [--other-locality 340200] [--timeout 90]
 *     read the locality's request topic over SASL/SCRAM (FILE: `tongban kafka-credentials
 *     --format properties`), verify every record (signature and signer), until the
 *     application --decide has been read; show that another locality's topic is refused; then
 *     approve that application through approval's REST API with the machine credential in
 *     the environment variable TONGBAN_TOKEN (role approval_system)
 * </pre>
 *
 * Prints one line per fact ("verified KEY TYPE", "untrusted KEY REASON", "refused TOPIC ...",
 * "decided NO STATUS") and exits 0 when everything asked for was done.
 */
public final class LocalApproval {
    private static final String ROUTING = "routing"; // who signs a locality's requests

    public static void main(String[] args) throws Exception {
        Map<String, String> options = options(args);
        int status = options.containsKey("check-vectors")
                ? checkVectors(Path.of(options.get("check-vectors")))
                : approve(options);
        System.exit(status);
    }

    private static Map<String, String> options(String[] args) {
        Map<String, String> options = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("usage: --name value ... (see the class comment)");
            }
            options.put(args[i].substring(2), args[++i]);
        }
        return options;
    }

    // --- the vectors ---------------------------------------------------------------------

    static int checkVectors(Path file) throws IOException {
        Map<String, Object> published = Json.object(Json.parse(Files.readString(file)));
        Map<String, byte[]> keys = new HashMap<>();
        for (Object key : Json.array(published.get("keys"))) {
            Map<String, Object> k = Json.object(key);
            keys.put((String) k.get("kid"), Base64.getDecoder().decode((String) k.get("public_key")));
        }
        int failures = 0;
        int verified = 0;
        for (Object item : Json.array(published.get("vectors"))) {
            Map<String, Object> vector = Json.object(item);
            Map<String, String> headers = new HashMap<>();
            Json.object(vector.get("headers")).forEach((name, text) -> headers.put(name, (String) text));
            SignedEvent event = new SignedEvent(headers, (String) vector.get("value"));
            String name = (String) vector.get("name");
            byte[] bytes = event.signedBytes();
            byte[] expected = HexFormat.of().parseHex((String) vector.get("signed_array_hex"));
            byte[] signature = Base64.getDecoder().decode(headers.get("ce_signature"));
            byte[] key = keys.get(headers.get("ce_signer"));
            byte[] changed = bytes.clone();
            changed[changed.length / 2] ^= 1;
            if (!java.util.Arrays.equals(bytes, expected)) {
                System.out.println("FAILED " + name + ": bytes differ: "
                        + new String(bytes, StandardCharsets.UTF_8));
                failures++;
            } else if (!Sm2.verify(key, bytes, signature)) {
                System.out.println("FAILED " + name + ": the signature does not verify");
                failures++;
            } else if (Sm2.verify(key, changed, signature)) {
                System.out.println("FAILED " + name + ": a changed byte still verifies");
                failures++;
            } else {
                verified++;
            }
        }
        int refused = 0;
        for (Object item : Json.array(published.get("not_signable"))) {
            Map<String, Object> example = Json.object(item);
            try {
                Jcs.canonicalize(Json.parse((String) example.get("value")));
                System.out.println("FAILED " + example.get("name") + ": canonicalized, not refused");
                failures++;
            } catch (Jcs.NotSignable expectedRefusal) {
                refused++;
            }
        }
        System.out.println("vectors: " + verified + " verified, a changed byte fails in each, "
                + refused + " refused as not signable, " + failures + " failed");
        return failures == 0 && verified > 0 ? 0 : 1;
    }

    // --- the journey -------------------------------------------------------------------

    static int approve(Map<String, String> options) throws Exception {
        String locality = required(options, "locality");
        String application = options.get("decide");
        Duration timeout = Duration.ofSeconds(Long.parseLong(options.getOrDefault("timeout", "90")));
        Instant deadline = Instant.now().plus(timeout);
        HttpClient http = HttpClient.newHttpClient(); // its defaults: HTTP/2 offered as h2c
        Map<String, byte[]> keys = publicKeys(http, required(options, "keys-url"));

        Properties kafka = new Properties();
        try (Reader reader = Files.newBufferedReader(Path.of(required(options, "consumer-config")))) {
            kafka.load(reader);
        }
        if (options.containsKey("group")) {
            kafka.put(ConsumerConfig.GROUP_ID_CONFIG, options.get("group"));
        }
        kafka.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        kafka.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        kafka.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        kafka.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());

        boolean seen = readOwnTopic(kafka, locality, keys, application, deadline);
        boolean refused = true;
        if (options.containsKey("other-locality")) {
            refused = refusedOn(kafka, "tongban.approval.requests." + options.get("other-locality"));
        }
        if (application == null) {
            return refused ? 0 : 1;
        }
        if (!seen) {
            System.out.println("missing " + application + ": not read, or not verified, in time");
            return 1;
        }
        String token = System.getenv("TONGBAN_TOKEN");
        if (token == null || token.isBlank()) {
            throw new IllegalArgumentException("set TONGBAN_TOKEN to the machine credential");
        }
        boolean decided = decide(http, required(options, "approval-url"), token, application, deadline);
        return refused && decided ? 0 : 1;
    }

    private static String required(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null) {
            throw new IllegalArgumentException("--" + name + " is required");
        }
        return value;
    }

    /** kid -> public key (04 ‖ x ‖ y) from a service's GET /v1/keys. */
    static Map<String, byte[]> publicKeys(HttpClient http, String url) throws Exception {
        HttpResponse<String> response = http.send(
                HttpRequest.newBuilder(URI.create(url)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IOException("GET " + url + ": " + response.statusCode());
        }
        Map<String, byte[]> keys = new HashMap<>();
        for (Object item : Json.array(Json.object(Json.parse(response.body())).get("keys"))) {
            Map<String, Object> key = Json.object(item);
            if ("SM2-SM3".equals(key.get("algorithm"))) {
                keys.put((String) key.get("kid"), Base64.getDecoder().decode((String) key.get("public_key")));
            }
        }
        return keys;
    }

    /** Read and verify every record of the locality's topic until `application` was read. */
    static boolean readOwnTopic(Properties kafka, String locality, Map<String, byte[]> keys,
            String application, Instant deadline) {
        String topic = "tongban.approval.requests." + locality;
        boolean seen = false;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(kafka)) {
            consumer.subscribe(List.of(topic));
            while (!seen && Instant.now().isBefore(deadline)) {
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(500))) {
                    String key = record.key() == null ? "" : new String(record.key(), StandardCharsets.UTF_8);
                    SignedEvent event = SignedEvent.of(record.headers(), record.value());
                    String why = event.distrust(keys, ROUTING, locality);
                    if (why != null) {
                        // A real system keeps it in its own dead-letter store; never acts on it.
                        System.out.println("untrusted " + key + " " + why);
                        continue;
                    }
                    System.out.println("verified " + key + " " + event.headers.get("ce_type"));
                    seen |= key.equals(application)
                            && "gov.tongban.application.routed.v1".equals(event.headers.get("ce_type"));
                }
                consumer.commitSync(); // after the records' effects (here: the lines above)
            }
        }
        return seen || application == null;
    }

    /** Whether the broker refuses this locality's principal on `topic`. */
    static boolean refusedOn(Properties kafka, String topic) {
        Properties other = (Properties) kafka.clone();
        other.put(ConsumerConfig.GROUP_ID_CONFIG, kafka.getProperty(ConsumerConfig.GROUP_ID_CONFIG) + "-other");
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(other)) {
            consumer.subscribe(List.of(topic));
            Instant until = Instant.now().plusSeconds(30);
            while (Instant.now().isBefore(until)) {
                if (!consumer.poll(Duration.ofMillis(500)).isEmpty()) {
                    System.out.println("NOT REFUSED " + topic + ": records were read");
                    return false;
                }
            }
        } catch (AuthorizationException refusal) {
            System.out.println("refused " + topic + " " + refusal.getClass().getSimpleName());
            return true;
        }
        System.out.println("NOT REFUSED " + topic + ": no authorization error");
        return false;
    }

    /** Claim and approve through approval's REST API, as the locality's machine credential. */
    static boolean decide(HttpClient http, String approvalUrl, String token, String application,
            Instant deadline) throws Exception {
        String cases = approvalUrl + "/v1/cases/" + application;
        int status = 0;
        while (Instant.now().isBefore(deadline)) { // approval opens the case from the same topic
            status = send(http, "GET", cases, token, null).statusCode();
            if (status == 200) {
                break;
            }
            Thread.sleep(300);
        }
        if (status != 200) {
            System.out.println("no case " + application + " (" + status + ")");
            return false;
        }
        HttpResponse<String> claimed = send(http, "POST", cases + "/claim", token, null);
        if (claimed.statusCode() != 200) {
            System.out.println("claim " + application + ": " + claimed.statusCode() + " " + claimed.body());
            return false;
        }
        String decision = "{\"decision\":\"approve\",\"reason\":" + Json.quote("材料齐全，符合规定")
                + ",\"override_reason\":" + Json.quote("容缺材料已承诺限期补交（本地审批系统）") + "}";
        HttpResponse<String> decided = send(http, "POST", cases + "/decision", token, decision);
        System.out.println("decided " + application + " " + decided.statusCode() + " " + decided.version());
        if (decided.statusCode() != 200) {
            System.out.println(decided.body());
        }
        return decided.statusCode() == 200;
    }

    private static HttpResponse<String> send(HttpClient http, String method, String url, String token,
            String json) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url))
                .header("Authorization", "Bearer " + token)
                .timeout(Duration.ofSeconds(15));
        if (json == null) {
            request.method(method, HttpRequest.BodyPublishers.noBody());
        } else {
            request.header("Content-Type", "application/json")
                    .method(method, HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8));
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }
}
