package io.lockstep.worker.comm;

import java.util.List;

/**
 * Exchanges endpoints among all ranks of a group: given this rank's endpoint, returns every rank's
 * (in any order). Called once per group, by the thread opening the collective; it should block until
 * every rank has contributed and bound that wait by its own deadline.
 *
 * <p>In Spark: {@code local -> Arrays.stream(context.allGather(local.encode())).map(Endpoint::decode).toList()}.
 */
@FunctionalInterface
public interface Rendezvous {
    List<Endpoint> exchange(Endpoint local);
}
