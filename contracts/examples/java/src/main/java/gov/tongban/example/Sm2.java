package gov.tongban.example;

import org.bouncycastle.asn1.gm.GMNamedCurves;
import org.bouncycastle.asn1.x9.X9ECParameters;
import org.bouncycastle.crypto.params.ECDomainParameters;
import org.bouncycastle.crypto.params.ECPublicKeyParameters;
import org.bouncycastle.crypto.params.ParametersWithID;
import org.bouncycastle.crypto.signers.PlainDSAEncoding;
import org.bouncycastle.crypto.signers.SM2Signer;
import java.nio.charset.StandardCharsets;

/**
 * SM2 signature verification with SM3 (GB/T 32918), BouncyCastle: the raw 64-byte r ‖ s form,
 * public keys as the uncompressed point 04 ‖ x ‖ y, and the default user id of GB/T 35276.
 */
public final class Sm2 {
    static final byte[] DEFAULT_USER_ID = "1234567812345678".getBytes(StandardCharsets.US_ASCII);
    private static final X9ECParameters CURVE = GMNamedCurves.getByName("sm2p256v1");
    private static final ECDomainParameters DOMAIN =
            new ECDomainParameters(CURVE.getCurve(), CURVE.getG(), CURVE.getN(), CURVE.getH());

    private Sm2() {}

    public static boolean verify(byte[] publicKey, byte[] message, byte[] signature) {
        if (signature.length != 64) {
            return false;
        }
        ECPublicKeyParameters key;
        try {
            key = new ECPublicKeyParameters(CURVE.getCurve().decodePoint(publicKey), DOMAIN);
        } catch (IllegalArgumentException notAPoint) {
            return false;
        }
        SM2Signer verifier = new SM2Signer(PlainDSAEncoding.INSTANCE);
        verifier.init(false, new ParametersWithID(key, DEFAULT_USER_ID));
        verifier.update(message, 0, message.length);
        return verifier.verifySignature(signature);
    }
}
