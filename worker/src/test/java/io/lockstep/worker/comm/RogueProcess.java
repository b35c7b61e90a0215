package io.lockstep.worker.comm;

import io.aeron.Aeron;
import io.aeron.ChannelUriStringBuilder;
import io.aeron.ExclusivePublication;
import io.aeron.Subscription;
import io.lockstep.worker.testing.ProcessFiles;
import org.agrona.concurrent.UnsafeBuffer;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A hostile process on the same host, for {@link RogueProcessTest}. Two roles:
 * <ul>
 *   <li>{@code relay <directory> <host> <port> <replay|flip> <frame> [<captured>]}: a UDP relay that a victim
 *       was tricked into sending through (as an attacker on the network path would be). It forwards every
 *       datagram both ways, and in the {@code frame}-th Lockstep data frame (a frame Aeron resends counts once)
 *       it either replays the
 *       {@code captured}-th (default the first; same length, fresh Aeron position, so Aeron itself accepts it)
 *       or flips one payload bit.</li>
 *   <li>{@code impostor <directory> <victim endpoint> <job> <attempt>}: joins as rank 1 of a two-rank group
 *       without the job secret. It knows what an eavesdropper reads off any packet (Aeron session and stream
 *       ids, the endpoints), which the parent hands it, and seals its frames under keys of its own secret.</li>
 * </ul>
 * Writes {@code relay-port}, {@code impostor-endpoint} and {@code tampered} files in the directory; the
 * relay runs until killed, the impostor until a {@code stop} file appears.
 */
public final class RogueProcess {
    private static final int AERON_HEADER = 32;
    private static final short AERON_DATA = 1;

    private RogueProcess() {
    }

    public static void main(String[] args) throws Exception {
        try {
            Path directory = Path.of(args[0]);
            if (args[1].equals("relay")) {
                relay(directory, new InetSocketAddress(args[2], Integer.parseInt(args[3])), args[4],
                        Integer.parseInt(args[5]), args.length > 6 ? Integer.parseInt(args[6]) : 1);
            } else {
                impostor(directory, Endpoint.decode(args[2]), args[3], Long.parseLong(args[4]));
            }
        } catch (Throwable e) {
            LoggerFactory.getLogger(RogueProcess.class).error("rogue failed", e);
            System.exit(1);
        }
        System.exit(0);
    }

    private static void relay(Path directory, InetSocketAddress target, String mode, int tamperAt, int captureAt)
            throws Exception {
        Selector selector = Selector.open();
        DatagramChannel front = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        front.configureBlocking(false);
        front.register(selector, SelectionKey.OP_READ);
        // One socket towards the target per sender socket, so the target's replies find their way back.
        Map<SocketAddress, DatagramChannel> towardsTarget = new HashMap<>();
        ByteBuffer datagram = ByteBuffer.allocate(1 << 17).order(ByteOrder.LITTLE_ENDIAN);
        int port = ((InetSocketAddress) front.getLocalAddress()).getPort();
        ProcessFiles.writeAtomically(directory.resolve("relay-port"),
                out -> out.write(Integer.toString(port).getBytes(StandardCharsets.UTF_8)));
        int dataFrames = 0;
        byte[] captured = null;
        // Aeron resends what a receiver reports lost: a frame counts once, at the first position it was seen at.
        Map<Integer, Long> positionBySession = new HashMap<>();
        while (true) {
            selector.select(1_000);
            for (SelectionKey key : selector.selectedKeys()) {
                DatagramChannel channel = (DatagramChannel) key.channel();
                datagram.clear();
                SocketAddress from = channel.receive(datagram);
                if (from == null) {
                    continue;
                }
                datagram.flip();
                if (key.attachment() != null) {
                    front.send(datagram, (SocketAddress) key.attachment());
                    continue;
                }
                // A datagram may hold several Aeron frames, each aligned to 32 bytes.
                for (int offset = 0; offset + AERON_HEADER <= datagram.limit(); ) {
                    int frameLength = datagram.getInt(offset);
                    if (frameLength <= 0) {
                        break;
                    }
                    int lockstep = offset + AERON_HEADER;
                    long position = ((long) datagram.getInt(offset + 20) << 32) | (datagram.getInt(offset + 8) & 0xFFFF_FFFFL);
                    if (datagram.getShort(offset + 6) == AERON_DATA && frameLength > AERON_HEADER + FrameHeader.LENGTH
                            && datagram.getInt(lockstep) == FrameHeader.MAGIC
                            && datagram.get(lockstep + 4) == FrameHeader.TYPE_DATA
                            && position > positionBySession.getOrDefault(datagram.getInt(offset + 12), Long.MIN_VALUE)) {
                        positionBySession.put(datagram.getInt(offset + 12), position);
                        dataFrames++;
                        int length = frameLength - AERON_HEADER;
                        if (dataFrames == captureAt) {
                            captured = new byte[length];
                            datagram.get(lockstep, captured);
                        } else if (dataFrames == tamperAt) {
                            String done;
                            if (mode.equals("replay") && captured != null && captured.length == length) {
                                datagram.put(lockstep, captured);
                                done = "replayed data frame " + captureAt + " as data frame " + dataFrames;
                            } else {
                                int victim = lockstep + FrameHeader.LENGTH + 8;
                                datagram.put(victim, (byte) (datagram.get(victim) ^ 0x01));
                                done = "flipped a payload bit of data frame " + dataFrames;
                            }
                            // The victim sees the frame come from the socket that forwards this sender's traffic.
                            DatagramChannel onward = onwardChannel(towardsTarget, from, selector);
                            String report = done + " from 127.0.0.1:"
                                    + ((InetSocketAddress) onward.getLocalAddress()).getPort();
                            ProcessFiles.writeAtomically(directory.resolve("tampered"),
                                    out -> out.write(report.getBytes(StandardCharsets.UTF_8)));
                        }
                    }
                    offset += (frameLength + 31) & ~31;
                }
                onwardChannel(towardsTarget, from, selector).send(datagram, target);
            }
            selector.selectedKeys().clear();
        }
    }

    private static DatagramChannel onwardChannel(Map<SocketAddress, DatagramChannel> towardsTarget, SocketAddress from,
                                                 Selector selector) throws IOException {
        DatagramChannel onward = towardsTarget.get(from);
        if (onward == null) {
            onward = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
            onward.configureBlocking(false);
            onward.register(selector, SelectionKey.OP_READ, from);
            towardsTarget.put(from, onward);
        }
        return onward;
    }

    private static void impostor(Path directory, Endpoint victim, String jobId, long attempt) throws Exception {
        // What the parent knows and an eavesdropper reads off the wire: ids and endpoints, never the secret.
        LinkIds ids = new LinkIds(Long.parseLong(System.getProperty("rogue.idSeed")), LinkIds.jobHash(jobId), attempt, 2);
        JobSecret wrong = JobSecret.random();
        CollectiveConfig config = CollectiveChildProcess.config();
        try (MediaDrivers.Handle driver = MediaDrivers.acquire(config);
             Aeron aeron = Aeron.connect(new Aeron.Context().aeronDirectoryName(driver.directory()))) {
            long tag = aeron.nextCorrelationId();
            String host = System.getProperty("rogue.host", "127.0.0.1");
            Subscription control = aeron.addSubscription(new ChannelUriStringBuilder().media("udp")
                    .endpoint(host + ":0").tags(Long.toString(tag))
                    .sessionId(ids.sessionId(Wire.LINK_CONTROL, 0, 1)).build(), ids.streamId(Wire.LINK_CONTROL, 1));
            Subscription data = aeron.addSubscription(new ChannelUriStringBuilder().media("udp")
                    .tags(Long.toString(tag)).sessionId(ids.sessionId(Wire.LINK_DATA, 0, 1)).build(),
                    ids.streamId(Wire.LINK_DATA, 1));
            while (control.localSocketAddresses().isEmpty()) {
                Thread.onSpinWait();
            }
            String address = control.localSocketAddresses().get(0);
            Endpoint self = new Endpoint(1, host, Integer.parseInt(address.substring(address.lastIndexOf(':') + 1)),
                    "impostor", 1);
            String target = victim.socketAddress();
            ExclusivePublication controlOut = aeron.addExclusivePublication(new ChannelUriStringBuilder()
                    .media("udp").endpoint(target).sessionId(ids.sessionId(Wire.LINK_CONTROL, 1, 0)).build(),
                    ids.streamId(Wire.LINK_CONTROL, 0));
            ExclusivePublication dataOut = aeron.addExclusivePublication(new ChannelUriStringBuilder()
                    .media("udp").endpoint(target).sessionId(ids.sessionId(Wire.LINK_DATA, 1, 0))
                    .termLength(config.termLengthBytes()).build(), ids.streamId(Wire.LINK_DATA, 0));
            ProcessFiles.writeAtomically(directory.resolve("impostor-endpoint"),
                    out -> out.write(self.encode().getBytes(StandardCharsets.UTF_8)));
            ProcessFiles.awaitFile(directory.resolve("go"), System.nanoTime() + TimeUnit.MINUTES.toNanos(1));
            while (!controlOut.isConnected() || !dataOut.isConnected() || data.imageCount() == 0) {
                Thread.onSpinWait();
            }
            WireSecurity mode = config.wireSecurity();
            FrameSeal.Sealer controlSealer = new FrameSeal.Sealer(mode,
                    FrameSeal.linkKey(wrong, jobId, attempt, mode, Wire.LINK_CONTROL, self, victim), FrameHeader.LENGTH,
                    "rank 0");
            FrameSeal.Sealer dataSealer = new FrameSeal.Sealer(mode,
                    FrameSeal.linkKey(wrong, jobId, attempt, mode, Wire.LINK_DATA, self, victim),
                    FrameHeader.LENGTH + 8, "rank 0");
            long jobHash = LinkIds.jobHash(jobId);
            // Right job, attempt and operation, genuine-looking sequence numbers: only the key is wrong.
            for (int i = 0; i < 2; i++) {
                offer(controlOut, frame(jobHash, attempt, FrameHeader.TYPE_CONTROL, 0), controlSealer);
                offer(dataOut, frame(jobHash, attempt, FrameHeader.TYPE_DATA, 2), dataSealer);
            }
            offer(dataOut, frame(jobHash, attempt, FrameHeader.TYPE_DATA, 2), null); // and one unsealed
            ProcessFiles.writeAtomically(directory.resolve("tampered"), out -> out.write(
                    "sent 2 control and 3 data frames".getBytes(StandardCharsets.UTF_8)));
            // Keep the streams open until the parent has seen the outcome.
            ProcessFiles.awaitFile(directory.resolve("stop"), System.nanoTime() + TimeUnit.MINUTES.toNanos(2));
        }
    }

    /** An all-reduce(SUM) frame of operation 1 from rank 1, as a genuine rank 1 would send it (4 values). */
    private static UnsafeBuffer frame(long jobHash, long attempt, byte frameType, int values) {
        UnsafeBuffer buffer = new UnsafeBuffer(ByteBuffer.allocateDirect(FrameHeader.LENGTH + values * Float.BYTES
                + FrameSeal.TAG_LENGTH));
        FrameHeader header = new FrameHeader().wrap(buffer, 0);
        header.writeIdentity(frameType, Wire.OP_ALL_REDUCE_SUM, frameType == FrameHeader.TYPE_DATA ? Wire.ENCODING_F32
                : Wire.ENCODING_NONE, 1, 0, jobHash, attempt, 1, 0);
        if (frameType == FrameHeader.TYPE_CONTROL) {
            header.writeControl(Wire.PHASE_ARRIVED, Wire.NO_RANK, Wire.NO_RANK, 4);
        } else {
            header.writeData(0, 0, 0, 4, values);
            for (int i = 0; i < values; i++) {
                buffer.putFloat(FrameHeader.LENGTH + i * Float.BYTES, 1000f);
            }
        }
        return buffer;
    }

    private static void offer(ExclusivePublication publication, UnsafeBuffer frame, FrameSeal.Sealer sealer)
            throws InterruptedException {
        int length = frame.capacity() - FrameSeal.TAG_LENGTH;
        if (sealer != null) {
            length = sealer.seal(frame, 0, length);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (publication.offer(frame, 0, length) < 0) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("could not send a frame within 30 s");
            }
            Thread.sleep(1);
        }
    }
}
