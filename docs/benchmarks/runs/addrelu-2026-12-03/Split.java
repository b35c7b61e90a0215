import java.nio.*;
import java.util.concurrent.*;
public class Split {
    static final int B = 4096;
    static void fwd(FloatBuffer a, FloatBuffer b, FloatBuffer o, int from, int to, float[] x, float[] y) {
        for (int s = from; s < to; s += B) { int m = Math.min(B, to - s); a.get(s, x, 0, m); b.get(s, y, 0, m);
            for (int i = 0; i < m; i++) x[i] = Math.max(x[i] + y[i], 0f); o.put(s, x, 0, m); }
    }
    static void bwd(FloatBuffer out, FloatBuffer e, FloatBuffer g1, FloatBuffer g2, int from, int to, float[] x, float[] y) {
        for (int s = from; s < to; s += B) { int m = Math.min(B, to - s); out.get(s, x, 0, m); e.get(s, y, 0, m);
            for (int i = 0; i < m; i++) x[i] = y[i] * Math.min(Math.max(x[i] * 0x1p126f * 0x1p126f, 0f), 1f); g1.put(s, x, 0, m); g2.put(s, x, 0, m); }
    }
    static FloatBuffer buf(int n) { return ByteBuffer.allocateDirect(n*4).order(ByteOrder.nativeOrder()).asFloatBuffer(); }
    public static void main(String[] args) throws Exception {
        ExecutorService ex = Executors.newSingleThreadExecutor(r -> { Thread t = new Thread(r); t.setDaemon(true); return t; });
        for (int n : new int[]{64*28*28*16, 64*14*14*32, 64*7*7*64}) {
            FloatBuffer a = buf(n), b = buf(n), o = buf(n), g1 = buf(n), g2 = buf(n);
            java.util.Random r = new java.util.Random(1);
            for (int i = 0; i < n; i++) { a.put(i, (float) r.nextGaussian()); b.put(i, (float) r.nextGaussian()); }
            float[] x = new float[B], y = new float[B], x2 = new float[B], y2 = new float[B];
            double[] res = new double[2];
            for (int rep = 0; rep < 10; rep++) {
                for (int v = 0; v < 2; v++) {
                    long t0 = System.nanoTime();
                    for (int it = 0; it < 20; it++) {
                        if (v == 0) { fwd(a, b, o, 0, n, x, y); bwd(o, b, g1, g2, 0, n, x, y); }
                        else {
                            int half = (n / 2 / B) * B;
                            Future<?> f = ex.submit(() -> fwd(a, b, o, half, n, x2, y2));
                            fwd(a, b, o, 0, half, x, y); f.get();
                            f = ex.submit(() -> bwd(o, b, g1, g2, half, n, x2, y2));
                            bwd(o, b, g1, g2, 0, half, x, y); f.get();
                        }
                    }
                    res[v] = (System.nanoTime() - t0) / 1e6 / 20;
                }
            }
            System.out.printf("n=%d: 1 thread %.3f ms, 2 threads %.3f ms (fwd+bwd)%n", n, res[0], res[1]);
        }
    }
}
