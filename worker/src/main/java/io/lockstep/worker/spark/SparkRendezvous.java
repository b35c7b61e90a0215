package io.lockstep.worker.spark;

import io.lockstep.worker.comm.AeronCollective;
import io.lockstep.worker.comm.Collective;
import io.lockstep.worker.comm.CollectiveConfig;
import io.lockstep.worker.comm.Endpoint;
import io.lockstep.worker.comm.GroupMember;
import io.lockstep.worker.comm.JobSecret;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkEnv;
import org.apache.spark.SparkFiles;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Opens a replica's collective inside a barrier task. The only Spark-specific part of the
 * communication layer: the rank is the partition id, the executor's host is the bind address (so
 * nothing listens on all interfaces and no address or port is configured by hand; {@code --network-interface}
 * picks another interface of the same host), and the endpoint
 * list comes from one {@code BarrierTaskContext.allGather} per stage — Spark polls it once a second,
 * so it is never used per step. The stage attempt scopes the group: traffic of an earlier attempt of
 * the same stage is rejected. With {@code spark.authenticate} on, the job's secret comes from Spark's
 * own secret on this executor instead of from the task.
 */
final class SparkRendezvous {
    private SparkRendezvous() {
    }

    static Collective open(BarrierTaskContext context, StageSpec spec) {
        int rank = context.partitionId();
        String address = context.getTaskInfos()[rank].address();
        String host = address.contains(":") ? address.substring(0, address.lastIndexOf(':')) : address;
        CollectiveConfig config = spec.collectiveSettings().applyTo(CollectiveConfig.builder(), host)
                .driverDirectoryRoot(SparkFiles.getRootDirectory())
                .operationTimeoutMs(spec.collectiveTimeoutMs())
                .connectTimeoutMs(spec.collectiveTimeoutMs())
                .wireSecurity(spec.wireSecurity())
                .build();
        JobSecret secret = spec.jobSecret() != null ? spec.jobSecret() : secretFromSpark(spec.jobId());
        GroupMember member = new GroupMember(spec.jobId() + "/epoch-" + spec.epoch(), secret,
                GroupMember.stageAttemptOf(context.stageId(), context.stageAttemptNumber()), rank, spec.replicas());
        return AeronCollective.open(config, member, local -> Arrays.stream(context.allGather(local.encode()))
                .map(Endpoint::decode).toList());
    }

    /** The job's secret from the authentication secret Spark gave this executor (spark.authenticate). */
    private static JobSecret secretFromSpark(String jobId) {
        SparkEnv env = SparkEnv.get();
        String shared = env == null ? null : env.securityManager().getSecretKey();
        if (shared == null || shared.isEmpty()) {
            throw new IllegalStateException("the driver runs with spark.authenticate=true, so the replicas derive the "
                    + "job's secret from Spark's authentication secret, but this executor has none: start the "
                    + "executors with the same spark.authenticate setting as the driver");
        }
        return JobSecret.derive(shared.getBytes(StandardCharsets.UTF_8), jobId);
    }
}
