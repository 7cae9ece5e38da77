package gov.tongban.example;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * One Tongban event as a Kafka record carries it, and the recipe of contracts/SIGNATURES.md:
 * the signature covers the RFC 8785 bytes of [ce_id, ce_type, ce_source, ce_subject, ce_time,
 * data], and the signer must be the one that may state the event.
 */
public final class SignedEvent {
    static final List<String> SIGNED_HEADERS =
            List.of("ce_id", "ce_type", "ce_source", "ce_subject", "ce_time");

    final Map<String, String> headers;
    final String value;

    SignedEvent(Map<String, String> headers, String value) {
        this.headers = headers;
        this.value = value;
    }

    /** The record's headers as text; the first occurrence of a name wins. */
    static SignedEvent of(Headers kafkaHeaders, byte[] value) {
        Map<String, String> headers = new HashMap<>();
        for (Header header : kafkaHeaders) {
            if (header.value() != null) {
                headers.putIfAbsent(header.key(), new String(header.value(), StandardCharsets.UTF_8));
            }
        }
        return new SignedEvent(headers, value == null ? null : new String(value, StandardCharsets.UTF_8));
    }

    Map<String, Object> data() {
        return Json.object(Json.parse(value));
    }

    /** What the signature covers (throws Jcs.NotSignable for data Tongban never signs). */
    byte[] signedBytes() {
        Object[] array = new Object[SIGNED_HEADERS.size() + 1];
        for (int i = 0; i < SIGNED_HEADERS.size(); i++) {
            String header = headers.get(SIGNED_HEADERS.get(i));
            if (header == null) {
                throw new IllegalArgumentException("no " + SIGNED_HEADERS.get(i) + " header");
            }
            array[i] = header;
        }
        array[SIGNED_HEADERS.size()] = Json.parse(value);
        return Jcs.canonicalize(java.util.Arrays.asList(array));
    }

    /**
     * Why this event must not be trusted, or null when it may be: signed, by a key of `keys`
     * whose name is `signerName`, over exactly these bytes; and, on a locality's request topic,
     * for an application whose competent locality is that locality.
     */
    String distrust(Map<String, byte[]> keys, String signerName, String locality) {
        String signature = headers.get("ce_signature");
        String signer = headers.get("ce_signer");
        if (signature == null || signer == null) {
            return "not signed";
        }
        if (!signer.split("#", 2)[0].equals(signerName)) {
            return "signed by " + signer + ", not by " + signerName;
        }
        byte[] key = keys.get(signer);
        if (key == null) {
            return "unknown key " + signer;
        }
        try {
            if (!Sm2.verify(key, signedBytes(), Base64.getDecoder().decode(signature))) {
                return "the signature does not verify with " + signer;
            }
            if (locality != null && !locality.equals(data().get("competent_locality"))) {
                return "competent_locality is not " + locality;
            }
        } catch (IllegalArgumentException unreadable) { // bad JSON, base64, NotSignable
            return unreadable.getMessage();
        }
        return null;
    }
}
