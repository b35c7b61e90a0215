package io.lockstep.worker.comm;

import org.agrona.IoUtil;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.EnumSet;
import java.util.Set;

/**
 * One rank's shared-memory segment for {@link SharedMemoryAllReduce}: a file in
 * {@link CollectiveConfig#sharedMemoryDirectory()} (a tmpfs, so its pages are plain memory) mapped by its owner
 * read-write and by the other ranks of its host read-only. Only the owner ever writes it.
 *
 * <p>Layout: a 128-byte header, then the data (the owner's input of the current operation, whose shard the
 * owner overwrites with the reduced values). Header: magic, the owner's {@link Endpoint#instance()}, job hash,
 * stage attempt and rank, which a peer checks before trusting the file; the element size and length of the
 * operation last written; and three operation numbers the owner publishes with release (ordered) stores and
 * peers read with acquire (volatile) loads: <em>written</em> (its input for that operation is in the segment),
 * <em>reduced</em> (its shard holds the final values) and <em>gathered</em> (it has copied every peer's shard,
 * so its peers may overwrite their segments).
 *
 * <p>Trust: the owner creates the file exclusively ({@code O_EXCL}, so a file planted in advance under the
 * name makes creation fail rather than be used) with owner-only permissions ({@code rw-------}); a peer
 * opens it only if it is a regular file (not a link), owned by the same user as its own segment, with exactly
 * those permissions, and its header names the expected job, attempt, rank and instance. Other users cannot
 * read or write it; the owner's user could read the process's memory anyway.
 *
 * <p>Capacity grows when an operation needs more: the owner extends the file by writing zeros (so a full
 * tmpfs fails the write with an error instead of killing the process with SIGBUS on first touch) and maps it
 * anew; a peer maps it anew when the header announces more data than its mapping covers. Not thread-safe:
 * owned by the rank's thread.
 */
final class SharedMemorySegment implements AutoCloseable {
    static final long MAGIC = 0x314D48534B434F4CL; // "LOCKSHM1" read as little-endian bytes
    static final int HEADER_BYTES = 128;
    /** Largest data a segment holds: one mapping is limited to 2 GiB. Larger all-reduces take the ring. */
    static final long MAX_DATA_BYTES = Integer.MAX_VALUE - HEADER_BYTES;
    private static final int MAGIC_AT = 0;
    private static final int INSTANCE_AT = 8;
    private static final int JOB_AT = 16;
    private static final int ATTEMPT_AT = 24;
    private static final int RANK_AT = 32;
    private static final int ELEMENT_BYTES_AT = 36;
    private static final int LENGTH_AT = 40;
    private static final int WRITTEN_AT = 64;
    private static final int REDUCED_AT = 72;
    private static final int GATHERED_AT = 80;
    private static final long GRANULE_BYTES = 64 * 1024;
    private static final Set<PosixFilePermission> OWNER_ONLY = EnumSet.of(PosixFilePermission.OWNER_READ,
            PosixFilePermission.OWNER_WRITE);

    final Path path;
    final int rank;
    private final boolean owner;
    private final FileChannel channel;
    private final UnsafeBuffer header = new UnsafeBuffer(0, 0);
    private MappedByteBuffer mapping;
    private long mappedBytes;
    private long dataAddress;

    private SharedMemorySegment(Path path, int rank, boolean owner, FileChannel channel) {
        this.path = path;
        this.rank = rank;
        this.owner = owner;
        this.channel = channel;
    }

    /** The file name of a rank's segment: unique per binding (the instance is random), the same for every peer. */
    static Path pathOf(Path directory, long jobHash, long attempt, int rank, long instance) {
        return directory.resolve("lockstep-" + Long.toHexString(jobHash) + "-" + attempt + "-r" + rank + "-"
                + Long.toHexString(instance) + ".shm");
    }

    /**
     * Creates this rank's segment, with room for the header only.
     *
     * @throws IOException when the directory is missing, not POSIX, not writable, or the name exists
     */
    static SharedMemorySegment create(Path directory, long jobHash, long attempt, int rank, long instance)
            throws IOException {
        Path path = pathOf(directory, jobHash, attempt, rank, instance);
        Files.createFile(path, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
        FileChannel channel = null;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
            SharedMemorySegment segment = new SharedMemorySegment(path, rank, true, channel);
            segment.extendTo(HEADER_BYTES);
            segment.map(HEADER_BYTES);
            segment.header.putLong(INSTANCE_AT, instance);
            segment.header.putLong(JOB_AT, jobHash);
            segment.header.putLong(ATTEMPT_AT, attempt);
            segment.header.putInt(RANK_AT, rank);
            segment.header.putLongOrdered(MAGIC_AT, MAGIC);
            return segment;
        } catch (IOException | RuntimeException e) {
            if (channel != null) {
                channel.close();
            }
            Files.deleteIfExists(path);
            throw e;
        }
    }

    /**
     * Opens a peer's segment read-only after checking it is what the peer created.
     *
     * @param expectedOwner the user owning this rank's own segment
     * @throws IOException saying why the file cannot be trusted or opened (the caller fails, naming the peer)
     */
    static SharedMemorySegment openPeer(Path directory, long jobHash, long attempt, Endpoint peer,
                                        UserPrincipal expectedOwner) throws IOException {
        Path path = pathOf(directory, jobHash, attempt, peer.rank(), peer.instance());
        PosixFileAttributes attributes;
        try {
            attributes = Files.readAttributes(path, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            throw new IOException("its segment " + path + " cannot be read (" + e + "): the rank runs on another "
                    + "machine, or in a container with its own " + directory + ", or it has shared memory off", e);
        }
        if (!attributes.isRegularFile()) {
            throw new IOException("its segment " + path + " is not a regular file");
        }
        if (!attributes.owner().equals(expectedOwner)) {
            throw new IOException("its segment " + path + " belongs to " + attributes.owner() + ", not to "
                    + expectedOwner + " like this rank's");
        }
        if (!attributes.permissions().equals(OWNER_ONLY)) {
            throw new IOException("its segment " + path + " has permissions "
                    + PosixFilePermissions.toString(attributes.permissions()) + " instead of rw-------");
        }
        SharedMemorySegment segment;
        FileChannel channel = FileChannel.open(path, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
        try {
            segment = new SharedMemorySegment(path, peer.rank(), false, channel);
            segment.map(Math.max(HEADER_BYTES, Math.min(channel.size(), HEADER_BYTES + MAX_DATA_BYTES)));
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw new IOException("its segment " + path + " cannot be mapped: " + e, e);
        }
        UnsafeBuffer header = segment.header;
        if (header.getLongVolatile(MAGIC_AT) != MAGIC || header.getLong(INSTANCE_AT) != peer.instance()
                || header.getLong(JOB_AT) != jobHash || header.getLong(ATTEMPT_AT) != attempt
                || header.getInt(RANK_AT) != peer.rank()) {
            segment.close();
            throw new IOException("its segment " + path + " does not carry the header of rank " + peer.rank()
                    + " of this group");
        }
        return segment;
    }

    /** The owner of this segment's file. */
    UserPrincipal fileOwner() throws IOException {
        return Files.getOwner(path, LinkOption.NOFOLLOW_LINKS);
    }

    /** Address of the first data byte (valid until the next {@link #ensureCapacity} or {@link #ensureMapped}). */
    long dataAddress() {
        return dataAddress;
    }

    /**
     * Owner only: makes room for {@code dataBytes} of data, extending and remapping the file if needed.
     *
     * @throws IOException when the file system is full (the message names the directory and what was needed)
     */
    void ensureCapacity(long dataBytes) throws IOException {
        long needed = HEADER_BYTES + dataBytes;
        if (needed <= mappedBytes) {
            return;
        }
        long size = Math.min(HEADER_BYTES + MAX_DATA_BYTES, (needed + GRANULE_BYTES - 1) / GRANULE_BYTES * GRANULE_BYTES);
        try {
            extendTo(size);
        } catch (IOException e) {
            throw new IOException("cannot grow the shared-memory segment " + path + " to " + size + " bytes: " + e
                    + ". Make room on that file system (a container's /dev/shm is often 64 MB: raise it, e.g. "
                    + "docker --shm-size) or turn shared memory off", e);
        }
        remap(size);
    }

    /** Peer only: makes the mapping cover {@code dataBytes} of data the owner announced; false if the file is shorter. */
    boolean ensureMapped(long dataBytes) throws IOException {
        long needed = HEADER_BYTES + dataBytes;
        if (needed <= mappedBytes) {
            return true;
        }
        long size = channel.size();
        if (size < needed) {
            return false;
        }
        remap(Math.min(size, HEADER_BYTES + MAX_DATA_BYTES));
        return true;
    }

    void publishOperation(long length, int elementBytes) {
        header.putInt(ELEMENT_BYTES_AT, elementBytes);
        header.putLong(LENGTH_AT, length);
    }

    int elementBytes() {
        return header.getInt(ELEMENT_BYTES_AT);
    }

    long length() {
        return header.getLong(LENGTH_AT);
    }

    void publishWritten(long seq) {
        header.putLongOrdered(WRITTEN_AT, seq);
    }

    void publishReduced(long seq) {
        header.putLongOrdered(REDUCED_AT, seq);
    }

    void publishGathered(long seq) {
        header.putLongOrdered(GATHERED_AT, seq);
    }

    long written() {
        return header.getLongVolatile(WRITTEN_AT);
    }

    long reduced() {
        return header.getLongVolatile(REDUCED_AT);
    }

    long gathered() {
        return header.getLongVolatile(GATHERED_AT);
    }

    private void extendTo(long size) throws IOException {
        long at = channel.size();
        if (at >= size) {
            return;
        }
        ByteBuffer zeros = ByteBuffer.allocateDirect((int) Math.min(GRANULE_BYTES, size - at));
        while (at < size) {
            zeros.clear().limit((int) Math.min(zeros.capacity(), size - at));
            at += channel.write(zeros, at);
        }
    }

    private void map(long size) throws IOException {
        mapping = channel.map(owner ? FileChannel.MapMode.READ_WRITE : FileChannel.MapMode.READ_ONLY, 0, size);
        mappedBytes = size;
        header.wrap(mapping, 0, HEADER_BYTES);
        dataAddress = header.addressOffset() + HEADER_BYTES;
    }

    private void remap(long size) throws IOException {
        MappedByteBuffer old = mapping;
        map(size);
        IoUtil.unmap(old);
    }

    /**
     * Unmaps, closes and deletes the file, whoever owns it: a rank killed before closing leaves no file behind
     * once any peer closes. Deleting is safe while others still map it (their mappings outlive the name), and
     * nobody opens a segment after connecting.
     */
    @Override
    public void close() {
        try {
            if (mapping != null) {
                IoUtil.unmap(mapping);
                mapping = null;
            }
            channel.close();
        } catch (IOException e) {
            // Closing a file channel fails only if the file system does; nothing to undo.
        } finally {
            try {
                Files.deleteIfExists(path);
            } catch (IOException e) {
                // Best effort: the name is unique, so a leftover file disturbs no later group.
            }
        }
    }
}
