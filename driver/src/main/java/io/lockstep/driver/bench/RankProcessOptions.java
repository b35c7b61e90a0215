package io.lockstep.driver.bench;

import io.lockstep.worker.comm.CollectiveConfig;
import io.lockstep.worker.comm.IdleMode;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * The options of a benchmark process that runs ranks of a group spread over processes or hosts
 * ({@code bench allreduce-rank}, {@code bench train-rank}): where it is in the group, how its ranks meet
 * (endpoint files in a shared directory), and the transport settings every process of the group must share.
 * A picocli mixin: the commands' {@code --help} lists these options with their own.
 */
final class RankProcessOptions {
    @Option(names = "--rank", required = true, description = "this process's rank (its first, if it runs several)")
    int rank;

    @Option(names = "--ranks", required = true, description = "group size N")
    int ranks;

    @Option(names = "--rendezvous", required = true, description = "directory every rank can read and write")
    Path rendezvous;

    @Option(names = "--bind", required = true, description = "this rank's address (never a wildcard)")
    String bind;

    @Option(names = "--link-mbps", defaultValue = "0", description = "nominal link rate in Mbit/s, 0 if unknown")
    double linkMbps;

    @Option(names = "--mtu", defaultValue = "8192")
    int mtu;

    @Option(names = "--window", defaultValue = "2097152", description = "receiver window and socket buffers")
    int window;

    @Option(names = "--idle", defaultValue = "BACKOFF")
    IdleMode idle;

    @Option(names = "--dir", description = "media driver root directory (default: java.io.tmpdir)")
    String directory;

    /**
     * The collective configuration these options give, with 8 MiB terms and {@code timeoutMs} to connect and
     * for every operation; the command adds what is its own (transport, chunk size, compression, ...).
     */
    CollectiveConfig.Builder collectiveConfig(long timeoutMs) {
        return CollectiveConfig.builder().bindAddress(bind).mtuBytes(mtu).termLengthBytes(8 << 20)
                .receiverWindowBytes(window).socketReceiveBufferBytes(window).socketSendBufferBytes(window).idleMode(idle)
                .driverDirectoryRoot(directory == null ? System.getProperty("java.io.tmpdir") : directory)
                .connectTimeoutMs(timeoutMs).operationTimeoutMs(timeoutMs);
    }

    /** The nominal link rate for the report's header. */
    String nominalLink() {
        return linkMbps > 0 ? linkMbps + " Mbit/s" : "unknown";
    }
}
