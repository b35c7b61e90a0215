import javax.crypto.*; import javax.crypto.spec.*; import java.nio.ByteBuffer; import java.security.*;
public class Fit {
  public static void main(String[] a) throws Exception {
    Provider p = org.conscrypt.Conscrypt.newProvider();
    Cipher c = Cipher.getInstance("AES/GCM/NoPadding", p);
    SecretKeySpec k = new SecretKeySpec(new byte[16], "AES");
    ByteBuffer in = ByteBuffer.allocateDirect(1<<20); ByteBuffer out = ByteBuffer.allocateDirect((1<<20)+16);
    byte[] iv = new byte[12]; byte[] a72 = new byte[72];
    long seq=0;
    int[] sizes = {0, 1024, 8192, 32768, 65384, 131072, 262144, 524288};
    for (int round = 0; round < 3; round++) {
      StringBuilder sb = new StringBuilder();
      for (int mode = 0; mode < 2; mode++) {
      for (int s : sizes) {
        int n = (int)Math.max(2000, 400_000_000L / Math.max(s, 20000) / 10);
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) { seq++; for (int j=0;j<8;j++) iv[11-j]=(byte)(seq>>>(8*j));
          c.init(Cipher.ENCRYPT_MODE, k, new GCMParameterSpec(128, iv));
          if (mode == 0) { in.clear().limit(72); c.updateAAD(in); } else c.updateAAD(a72);
          in.clear().position(72).limit(72 + s); out.clear(); c.doFinal(in, out); }
        long t1 = System.nanoTime();
        sb.append(String.format(" %d:%.0f", s, (t1-t0)/(double)n));
      }
      sb.append(mode==0? "  | aad as byte[]:" : "");
      }
      System.out.println("ns per call, direct aad:" + sb);
    }
  }
}
