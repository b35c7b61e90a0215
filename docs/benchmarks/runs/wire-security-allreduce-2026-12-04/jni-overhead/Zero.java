import javax.crypto.*; import javax.crypto.spec.*; import java.nio.ByteBuffer; import java.security.*;
public class Zero {
  public static void main(String[] a) throws Exception {
    Provider p = org.conscrypt.Conscrypt.newProvider();
    Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p);
    SecretKeySpec k = new SecretKeySpec(new byte[16], "AES");
    ByteBuffer in = ByteBuffer.allocateDirect(1<<20); ByteBuffer out = ByteBuffer.allocateDirect((1<<20)+16);
    byte[] iv = new byte[12];
    long seq=0; long end = System.nanoTime() + 8_000_000_000L; long n=0;
    while (System.nanoTime() < end) { for (int r=0;r<1000;r++){ seq++; n++; for (int j=0;j<8;j++) iv[11-j]=(byte)(seq>>>(8*j));
          c.init(Cipher.ENCRYPT_MODE, k, new GCMParameterSpec(128, iv));
          in.clear().limit(72); c.updateAAD(in);
          in.clear().position(72).limit(72); out.clear(); c.doFinal(in, out); }}
    System.out.println(8e9/n + " ns/call");
  }
}
