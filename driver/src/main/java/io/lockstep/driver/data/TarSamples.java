package io.lockstep.driver.data;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

import java.io.Closeable;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * The samples of one tar shard in the WebDataset layout, in archive order: the entries that share a
 * key (the entry name up to the first dot of its file name, directories included) and follow each
 * other form one sample; {@code key.jpg}, {@code key.jpeg} or {@code key.png} is its image and
 * {@code key.cls} its class index as decimal text. Entries of other types ({@code .json}, {@code .txt})
 * are ignored. Image bytes are read only when asked for; otherwise they are skipped (a seek on
 * filesystems that support one), so listing a shard reads little more than its headers.
 *
 * <p>Each sample carries the byte offset (from where the stream started) of the first header after the
 * previous sample's last entry: a tar read opened there, by a seek, yields the same samples from that one
 * on, which is how a shard is split into several read tasks.
 *
 * <p>A shard that ends inside an entry (or inside a header) raises {@link Truncated}; the sample being
 * read then is incomplete and is not returned. Single-threaded.
 */
final class TarSamples implements Closeable {
    /** At most this many bytes of {@code .cls} text are read (a class index is a handful of digits). */
    private static final int MAX_CLS_BYTES = 64;

    /** Tar's record size: an entry's data is padded to a multiple of it, and the next header follows. */
    private static final int RECORD = 512;
    /** Where the type flag sits in a tar header. */
    private static final int TYPE_FLAG = 156;

    private final Counting counted;
    private final TarArchiveInputStream tar;
    private final boolean readImages;
    private TarArchiveEntry pending;
    /** Offset of the first header after the last image or class entry returned (0 before any). */
    private long afterLastEntry;
    /** Offset where the headers of {@link #pending} begin (after the entry before it). */
    private long pendingStart;
    private String lastEntry;
    private boolean started;

    /** One sample: its key and what its entries held; {@link #problem()} says why it is not a record, or null. */
    record Sample(String key, String imageEntry, byte[] image, String clsEntry, String cls, String secondImage, long offset) {
        /** The entry named in messages: the image, else the class entry. */
        String entry() {
            return imageEntry != null ? imageEntry : clsEntry;
        }

        /** Why the sample cannot be a record (missing part, two images), or null. */
        String problem() {
            if (secondImage != null) {
                return "holds two images for one key (" + imageEntry + " and " + secondImage + "); a sample has one image";
            }
            if (imageEntry == null) {
                return "has no image for key '" + key + "' (expected " + key + ".jpg, .jpeg or .png next to it)";
            }
            if (clsEntry == null) {
                return "has no class entry for key '" + key + "' (expected " + key + ".cls holding the class index)";
            }
            return null;
        }
    }

    /** The shard ends inside an entry or a header: it was cut short (an interrupted copy or write). */
    static final class Truncated extends IOException {
        private final String entry;

        Truncated(String entry, IOException cause) {
            super(cause.getMessage(), cause);
            this.entry = entry;
        }

        /** Where it ends: inside this entry, or (a header) after it. */
        String where() {
            return entry;
        }
    }

    TarSamples(InputStream in, boolean readImages) {
        this.counted = new Counting(in);
        this.tar = new TarArchiveInputStream(counted);
        this.readImages = readImages;
    }

    /**
     * Whether the stream began with a global PAX header ({@code g}), whose attributes apply to every later
     * entry: a read that starts past it would miss them, so such a shard is read whole. Known once the first
     * sample was read.
     */
    boolean globalHeader() {
        return counted.firstTypeFlag == 'g';
    }

    /** The next sample, or null after the last one. */
    Sample next() throws Truncated {
        if (!started) {
            started = true;
            pending = nextEntry();
        }
        if (pending == null) {
            return null;
        }
        String key = key(pending.getName());
        long offset = pendingStart;
        String imageEntry = null;
        byte[] image = null;
        String clsEntry = null;
        String cls = null;
        String secondImage = null;
        while (pending != null && key(pending.getName()).equals(key)) {
            String name = pending.getName();
            String ext = extension(name);
            try {
                if (isImage(ext)) {
                    if (imageEntry == null) {
                        imageEntry = name;
                        if (readImages) {
                            if (pending.getSize() > Integer.MAX_VALUE - 16) {
                                throw new IOException(name + " is " + pending.getSize() + " bytes, too large for one image");
                            }
                            image = tar.readNBytes((int) pending.getSize());
                            if (image.length < pending.getSize()) {
                                throw new IOException("the shard ends inside " + name);
                            }
                        }
                    } else {
                        secondImage = name;
                    }
                } else if (ext.equals("cls")) {
                    clsEntry = name;
                    byte[] text = tar.readNBytes((int) Math.min(pending.getSize(), MAX_CLS_BYTES));
                    if (text.length < Math.min(pending.getSize(), MAX_CLS_BYTES)) {
                        throw new IOException("the shard ends inside " + name);
                    }
                    cls = new String(text, StandardCharsets.UTF_8).trim();
                }
            } catch (Truncated e) {
                throw e;
            } catch (IOException e) {
                throw new Truncated(name, e);
            }
            pending = nextEntry();
        }
        return new Sample(key, imageEntry, image, clsEntry, cls, secondImage, offset);
    }

    /** The next image or class entry (other entries, directories and links are passed over). */
    private TarArchiveEntry nextEntry() throws Truncated {
        long start = afterLastEntry;
        while (true) {
            TarArchiveEntry entry;
            try {
                // A cast: before commons-compress 1.25 (the one Spark 3.5 ships) this returns ArchiveEntry.
                entry = (TarArchiveEntry) tar.getNextEntry();
            } catch (IOException e) {
                throw new Truncated(lastEntry == null ? "the first header" : lastEntry, e);
            }
            if (entry == null) {
                return null;
            }
            lastEntry = entry.getName();
            if (!entry.isFile()) {
                continue;
            }
            String ext = extension(entry.getName());
            if (isImage(ext) || ext.equals("cls")) {
                // The stream stands right after the entry's last header; its data, padded to whole records, follows.
                pendingStart = start;
                afterLastEntry = counted.position + (entry.getSize() + RECORD - 1) / RECORD * RECORD;
                return entry;
            }
        }
    }

    /** WebDataset's key: the entry name up to the first dot of its last path element. */
    static String key(String name) {
        int slash = name.lastIndexOf('/');
        int dot = name.indexOf('.', slash + 1);
        return dot < 0 ? name : name.substring(0, dot);
    }

    private static String extension(String name) {
        int slash = name.lastIndexOf('/');
        int dot = name.indexOf('.', slash + 1);
        return dot < 0 ? "" : name.substring(dot + 1).toLowerCase(Locale.ROOT);
    }

    private static boolean isImage(String ext) {
        return ext.equals("jpg") || ext.equals("jpeg") || ext.equals("png");
    }

    /** The class index a {@code .cls} entry holds, or -1 when it is not a non-negative decimal integer. */
    static int classIndex(String cls) {
        if (cls == null || cls.isEmpty() || cls.length() > 9) {
            return -1;
        }
        for (int i = 0; i < cls.length(); i++) {
            if (cls.charAt(i) < '0' || cls.charAt(i) > '9') {
                return -1;
            }
        }
        return Integer.parseInt(cls);
    }

    @Override
    public void close() throws IOException {
        tar.close();
    }

    /** Counts the bytes the tar reader consumed (read or skipped), and keeps the first header's type flag. */
    private static final class Counting extends FilterInputStream {
        private long position;
        private int firstTypeFlag = -1;

        Counting(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) {
                if (position == TYPE_FLAG) {
                    firstTypeFlag = b;
                }
                position++;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) {
                if (position <= TYPE_FLAG && position + n > TYPE_FLAG) {
                    firstTypeFlag = b[off + (int) (TYPE_FLAG - position)] & 0xff;
                }
                position += n;
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            long skipped = super.skip(n);
            if (skipped > 0) {
                position += skipped;
            }
            return skipped;
        }

        @Override
        public boolean markSupported() {
            // A reset would rewind the stream behind the count.
            return false;
        }
    }
}
