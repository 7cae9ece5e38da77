package gov.tongban.example;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * RFC 8785 (JSON Canonicalization Scheme) for the values Tongban signs: objects, arrays,
 * strings, integers within ±(2^53 - 1), booleans and null (contracts/SIGNATURES.md). Members
 * are sorted by their names' UTF-16 code units, which is exactly Java's {@link
 * String#compareTo}. Anything else (a number with a fraction or an exponent, a larger
 * integer, a lone surrogate) is refused with {@link NotSignable}.
 */
public final class Jcs {
    static final BigInteger MAX_SAFE_INTEGER = BigInteger.TWO.pow(53).subtract(BigInteger.ONE);

    /** A value Tongban does not sign. */
    public static final class NotSignable extends IllegalArgumentException {
        NotSignable(String message) {
            super(message);
        }
    }

    private Jcs() {}

    public static byte[] canonicalize(Object value) {
        StringBuilder out = new StringBuilder();
        write(value, out, "$");
        return out.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static void write(Object value, StringBuilder out, String where) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof Boolean) {
            out.append(value.toString());
        } else if (value instanceof String) {
            checkText((String) value, where);
            writeString((String) value, out);
        } else if (value instanceof BigInteger) {
            BigInteger integer = (BigInteger) value;
            if (integer.abs().compareTo(MAX_SAFE_INTEGER) > 0) {
                throw new NotSignable(where + ": the integer " + integer + " is beyond ±(2^53 - 1)");
            }
            out.append(integer.toString());
        } else if (value instanceof BigDecimal) {
            throw new NotSignable(where + ": " + value + " is not an integer; signed data has none");
        } else if (value instanceof Map) {
            Map<String, Object> members = Json.object(value);
            List<String> names = new ArrayList<>(members.keySet());
            names.sort(String::compareTo); // UTF-16 code units, as RFC 8785 §3.2.3 says
            out.append('{');
            for (int i = 0; i < names.size(); i++) {
                String name = names.get(i);
                checkText(name, where);
                if (i > 0) {
                    out.append(',');
                }
                writeString(name, out);
                out.append(':');
                write(members.get(name), out, where + "." + name);
            }
            out.append('}');
        } else if (value instanceof List) {
            List<Object> items = Json.array(value);
            out.append('[');
            for (int i = 0; i < items.size(); i++) {
                if (i > 0) {
                    out.append(',');
                }
                write(items.get(i), out, where + "[" + i + "]");
            }
            out.append(']');
        } else {
            throw new NotSignable(where + ": a " + value.getClass().getSimpleName() + " is not JSON");
        }
    }

    private static void checkText(String text, String where) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length()
                    && Character.isLowSurrogate(text.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new NotSignable(where + ": a lone surrogate is not text");
            }
        }
    }

    /** A JSON string as RFC 8785 writes it (ECMAScript's JSON.stringify). */
    static void writeString(String value, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            switch (c) {
                case '"': out.append("\\\""); break;
                case '\\': out.append("\\\\"); break;
                case '\b': out.append("\\b"); break;
                case '\f': out.append("\\f"); break;
                case '\n': out.append("\\n"); break;
                case '\r': out.append("\\r"); break;
                case '\t': out.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
            }
        }
        out.append('"');
    }
}
