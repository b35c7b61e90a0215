package io.lockstep.worker.spark;

import java.io.Serializable;

/**
 * One record routed to a replica for one epoch: its position in the replica's shard and whether it
 * belongs to the training shard or to the replica's slice of the test set.
 */
public record ShardItem<R>(boolean test, int order, R record) implements Serializable {
}
